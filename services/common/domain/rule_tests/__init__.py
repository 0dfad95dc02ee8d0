"""Rule unit tests (`cep rules test`): input events and series at given times, expected events, a verdict."""
