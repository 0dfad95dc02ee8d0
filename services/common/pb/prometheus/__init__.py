"""Generated gRPC code (see protos/generate.py)."""
