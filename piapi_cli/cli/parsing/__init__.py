"""Reading a command line: how commands declare options (``params``), the parser that runs a
command without importing typer (``fastpath``), and the generated tables it reads
(``_argspec``, ``_helptext``, written by ``argspecgen`` and tools/docgen.py)."""
