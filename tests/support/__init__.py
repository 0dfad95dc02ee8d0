"""Test support: running the real stack (`cep up`) and finding its processes."""
