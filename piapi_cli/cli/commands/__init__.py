"""One module per command: options -> library -> render. No HTTP or dict-walking here."""
