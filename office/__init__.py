"""The head office: ledger (stations, sales exactly once, chain problems), card master,
the office's sync endpoints (``office.sync``) and its commands (``office.cli``)."""
