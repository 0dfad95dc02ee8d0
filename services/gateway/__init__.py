"""Gateway service: REST, SSE, auth, OpenAPI, the recorder and the web UI."""
