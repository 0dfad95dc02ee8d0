"""The compiled evaluation path: the shards' engine, judged against the reference engine (rule_engine.py).

`CompiledEngine` (engine.py) is a `RuleEngine` whose metric rules take a fast path (fast_thresholds.py): one
candidate list per event shape, one group key and one sample lookup per event, verdicts without explanation trees,
explanations built only when a transition or a snapshot reads them. Its transitions and snapshots are those of the
reference engine: tests/common/domain/evaluation/test_compiled_engine_props.py holds it to that. The reference
imports nothing from here.
"""
