"""Complex event patterns: ordered steps within a time bound, matched per correlation key (docs/patterns.md)."""
