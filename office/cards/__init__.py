"""The card master: products, cards, the stop list and extras as current documents,
and every version's operations (the deltas stations apply)."""
