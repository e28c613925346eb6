"""Pricing and loyalty at the head office: the rule set, its published revisions, the
points ledger, and the recomputation of every priced sale (docs/pricing.md)."""
