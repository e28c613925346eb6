"""The ledger: enrolled stations, sales stored exactly once, chain problems, quarantine."""
