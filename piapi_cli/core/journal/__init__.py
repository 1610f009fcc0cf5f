"""The journal: one SQLite file that records every task before its create is sent.

Every SQL statement on the file lives in this package (a test holds it), and the schema has
one path: the numbered migrations of ``schema``. Import the module you need, not this
package, so that a command pays only for what it reads.

What the rest of piapi may use:

``journal``: ``Journal(path, *, clock, busy_timeout, alive, stale_after)``, the one typed
interface (the runner, batch runs, the listener and the commands all hold one):

- writing a create: ``begin_create(world, model, task_type, input, config, *, run_id,
  row_key, fingerprint) -> row`` (durable before the create is sent; ``AlreadyJournaled``
  when another process journaled that row of that run first), then ``created(row, task)``
  or ``create_failed(row, state, message)``;
- keeping it current: ``update(task)``, ``record_download(task_id, url, path, size, sha256)``;
- reading: ``entries(status=, model=, since=, limit=, world=)``, ``row(n)`` (the ``#`` that
  ``piapi tasks`` shows), ``with_prefix(prefix, world=)``, ``unfinished(world)``,
  ``completed_without_downloads(world, directory)``, ``usage(since=, by=, world=)``,
  ``known_costs(world)``;
- creates that may exist: ``maybe_created(world)`` and the one rule for a ``sending`` row,
  ``sender_gone(entry)`` (its process gone on this machine, or older than ``stale_after``);
- batch runs: ``record_run``, ``record_run_outcome``, ``supersede``, ``run_rows(run_id)``,
  ``run_row``, ``by_run``, ``runs(world)``, ``run(run_id) -> RunRecord``;
- many threads writing at once: ``with journal.group_commit(): ...`` (one thread commits
  everyone's writes together; ``busy`` / ``busy_cpu`` count its time);
- extending it (inside this package only): ``apply(function_of_connection, operation)``,
  ``write(operation)``, ``read(sql, args)``.

Every failure is a ``JournalError`` (a ``ConfigError``, exit 3) with the file, the operation
and a ``kind``. ``parse_since`` reads ``--since`` ages.

``entries``: ``Entry``, one journaled task (read tolerantly: unreadable fields are noted in
``problems``), the local states (``SENDING``, ``UNKNOWN``, ``REFUSED``, ``NOT_SENT``) and
``AmbiguousTaskId``.

``events``: the listener's events table over the same file (``EventStore``).

``schema``: the numbered migrations (never edited once released).

Task IDs as users type them (a full ID, a unique prefix, ``#N``) are resolved by
``piapi_cli.core.ids.resolve_task`` over a ``Journal``.

``store`` (the connection, locking, failures in words; ``journal_failure`` for a caller whose
record failed), ``reads``, ``runs`` and ``groupcommit`` are this package's own: ``Journal`` is
their interface. Whether a row's process still runs is ``core.processes.process_alive``, the
one check piapi has.
"""
