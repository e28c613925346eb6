"""The head office, a Django project (SQLite by default, PostgreSQL for networks).

``office.settings`` builds Django's settings from our configuration (users never edit a
settings.py); ``office.ledger``, ``office.cards`` and ``office.access`` are its apps;
``office.store`` is the one way into the office store (``open_office``, ``init_office``,
the office key); ``office.db`` is the raw-SQL seam the office's code runs through on both
databases; ``office.sync`` holds the office's endpoints of the wire; ``office.cli`` its commands.
"""
