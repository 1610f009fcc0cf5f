"""SQLite for the journal: ``sqlite3`` is its C half, ``_sqlite3``, when the interpreter has it.

``import sqlite3`` runs the DB-API module in Python (``sqlite3.dbapi2``) on top of it: it
imports ``datetime`` and registers adapters for dates and times, which the journal never hands
to SQLite (it stores numbers and text). The connection, the rows and the errors are the same
objects either way; a create and a get, which journal, pay about 2 M instructions less.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3 as sqlite3
else:
    try:
        import _sqlite3 as sqlite3
    except ImportError:  # pragma: no cover - an interpreter without the split
        import sqlite3

__all__ = ["sqlite3"]
