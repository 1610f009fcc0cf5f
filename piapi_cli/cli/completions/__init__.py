"""Shell completion scripts, generated ahead of time from the command tree and the catalog
(``python tools/docgen.py``) and shipped in the package: ``piapi completion SHELL`` only
copies one out, without building the command tree.
"""

from __future__ import annotations

#: the script of each shell, by the file name its shell looks for
FILES = {"bash": "piapi.bash", "zsh": "_piapi", "fish": "piapi.fish"}


def script(shell: str) -> bytes:
    """The completion script for ``shell`` (a key of ``FILES``)."""
    import os

    with open(os.path.join(os.path.dirname(__file__), FILES[shell]), "rb") as handle:
        return handle.read()
