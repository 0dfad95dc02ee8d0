"""Tests of the evaluator: shard actors, driver, snapshots, metrics."""
