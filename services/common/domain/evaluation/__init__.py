"""Evaluation: the rule engine that composes the other packages, its candidate-rule index, sharding and simulate."""
