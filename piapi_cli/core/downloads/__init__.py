"""Downloads: a task's outputs fetched to disk, resumable, never over a file that is not ours.

What the rest of piapi may use:

- ``downloader``: ``Downloader``, ``LocalFile``, ``download_client`` (from ``client``) and the
  ``DownloadHTTP`` type
- ``naming``: the file names a task's outputs get (pure functions)
- ``results``: what a download run produced (``Report``, ``Partial``, ``DownloadInterrupted``)
- ``partfiles.publish_new``: a file written beside its target given its name, never over another

``partfiles`` (``.part`` files, their locks and resume records), ``answers`` (what a server's
answer means for a part), ``client`` (the HTTP engine files are read with), ``streams`` (reading
and decoding a body) and ``metadata`` (``--metadata`` sidecars) are this package's own.
"""

#: the file name a task's output gets unless ``--name`` says otherwise (``naming.render_name``);
#: here, not in ``naming``, so a run that saves no file need not import the naming rules
DEFAULT_TEMPLATE = "{task_id}-{index}.{ext}"
