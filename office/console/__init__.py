"""The web console: head-office staff's pages (``forecourt office web``)."""
