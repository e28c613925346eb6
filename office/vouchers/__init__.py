"""Fuel vouchers (talons): batches issued by the office, and the ledger of their
redemptions with its exceptions (docs/pricing.md, "Vouchers")."""
