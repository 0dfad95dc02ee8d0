"""Secrets at rest and on the wire: Fernet sealing and the channel configs it protects."""
