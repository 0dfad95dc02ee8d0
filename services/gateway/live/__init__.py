"""Live views: the tenant feed and its SSE readers, stream tickets and slots, and the scheduler's live buckets."""
