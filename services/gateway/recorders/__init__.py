"""Recorders: what arrives on JetStream (transitions, results, runs, dead letters) written into SQL."""
