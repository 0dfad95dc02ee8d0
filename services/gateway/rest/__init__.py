"""The REST edge's plumbing: problem+json, bodies, paging, merge patch, times, size limit, log redaction, OpenAPI."""
