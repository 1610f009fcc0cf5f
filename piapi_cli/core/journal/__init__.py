"""The journal: one SQLite file that records every task before its create is sent.

What the rest of piapi may use (import the module, not this package, so that a command pays
only for what it reads):

- ``journal``: ``Journal`` (open, record, look up, migrate), ``JournalError``, ``parse_since``
- ``entries``: ``Entry``, the row types the journal hands out
- ``events``: the listener's events table over the same file
- ``schema``: the numbered migrations (never edited once released)

``store`` (the connection, locking, the process-alive rule) is this package's own.
"""
