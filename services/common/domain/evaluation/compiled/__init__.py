"""The compiled evaluation path: the shards' engine, judged against the reference engine (rule_engine.py).

`CompiledEngine` (engine.py) is a `RuleEngine` whose metric rules take a fast path (fast_thresholds.py): one
candidate list per event shape, one group key and one sample lookup per event, verdicts without explanation trees,
explanations built only when a transition or a snapshot reads them. Rules without timers, conditions or hysteresis
that read one metric under one group_by are judged as a quick group (quick_lanes.py), their avg, sum and count
windows on a running sum with a certified error bound (running_window.py). Its transitions and snapshots are those
of the reference engine: tests/common/domain/evaluation/test_compiled_engine_props.py holds it to that. The
reference imports nothing from here.
"""
