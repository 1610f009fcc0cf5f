"""The offline report: journaled tasks and their downloaded files as one page that opens from
disk (no server, no network) and travels as a folder (every path inside it relative).

What the rest of piapi may use (import the module, not this package: a command pays only for
what it reads, and Pillow is imported only when thumbnails are made):

- ``build``: ``write_report`` (records, thumbnails, the page: one call), ``report_data``
  (the records alone, for ``--json``), ``compare_report`` (a report compared by model),
  ``ReportOptions``, ``ReportResult``
- ``records``: ``task_record`` (one journaled task as the page shows it), ``summarise``
- ``compare``: ``compare_table`` (the same inputs side by side across one field's values)
- ``marks``: ``read_marks`` (the selection a reader exported from the page)

``thumbnails`` (Pillow, concurrent, made once) and ``page`` (the HTML, its data block and its
Content-Security-Policy) are this package's own; the page's HTML, CSS and script are the
package data files in ``assets/``.
"""
