"""Evaluator service: a Ray driver with one actor per rule shard."""
