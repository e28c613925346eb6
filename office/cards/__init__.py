"""The card master: versioned card documents and deltas, usage across stations."""
