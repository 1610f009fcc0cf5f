"""Downloads: a task's outputs fetched to disk, resumable, never over a file that is not ours.

What the rest of piapi may use:

- ``downloader``: ``Downloader``, ``LocalFile``, ``download_client``
- ``naming``: the file names a task's outputs get (pure functions)
- ``results``: what a download run produced (``Report``, ``Partial``, ``DownloadInterrupted``)
- ``partfiles.publish_new``: a file written beside its target given its name, never over another

``partfiles`` (``.part`` files, their locks and resume records) and ``streams`` (reading and
decoding a body) are this package's own.
"""
