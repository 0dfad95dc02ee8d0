"""Events as the domain sees them: the event model, ingest bodies turned into items, and per-key rate limits."""
