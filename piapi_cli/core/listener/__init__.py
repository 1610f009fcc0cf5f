"""The webhook listener: receives PiAPI's deliveries, journals them, forwards them on.

What the rest of piapi may use:

- ``listener``: ``Listener`` and ``ListenerOptions``, the one entry point of ``piapi listen``
- ``forwarding``: ``Route``, ``parse_events`` (what ``--forward-to`` and ``--events`` accept)
- ``secret``: the webhook secret piapi makes once and keeps

``receiver`` and ``http1`` (the HTTP server), ``intake`` (deliveries checked, stored, queued),
``ordering`` (events queued in storage order), ``execution`` (the ``--exec`` command) and
``backstop`` (GETs for deliveries that never came) are this package's own.
"""
