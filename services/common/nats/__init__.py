"""The NATS side every service shares: the connection, subjects, streams and buckets, publishing, consumers, leases."""
