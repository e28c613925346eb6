"""Formats both sides read and write: the journal line and hash chain, the card-store
snapshot and delta operations."""
