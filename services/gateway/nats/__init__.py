"""The gateway's NATS side: its connection, pull consumers, queue subscriptions, auth callout, producer sessions."""
