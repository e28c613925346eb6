"""The ledger: enrolled stations, their sales (exactly once), chain state and problems,
quarantine, refused messages, flash transfers and the office's own identity."""
