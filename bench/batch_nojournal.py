"""`piapi batch run` with the journal's writes made no-ops: what the journal costs a run.

    python bench/batch_nojournal.py batch run ROWS.jsonl [options]

For the benchmark only (bench/batch.py): the same command, in the same process layout, with
every write the journal would commit (``Store.apply``) skipped (a create still gets a row number). Nothing is
resumable this way; never use it for real work.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from piapi_cli.core.journal import store as journal_store

rows = itertools.count(1)


def skipped(self: journal_store.Store, write: Any, operation: str, *, durable: bool = False) -> Any:
    del self, write, durable
    return next(rows) if operation == "recording a create" else None


journal_store.Store.apply = skipped  # type: ignore[method-assign]

if __name__ == "__main__":
    from piapi_cli.cli.main import main

    sys.exit(main(sys.argv[1:]))
