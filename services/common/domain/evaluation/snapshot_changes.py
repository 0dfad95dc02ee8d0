"""An engine snapshot brought forward by the engine's `changes()`: what an incremental snapshot restores from.

`RuleEngine.changes()` lists, per rule touched since the previous capture, None (the rule holds no series any
more) or its semantics, the series stored since and the keys dropped. Applying each in order to the `snapshot()`
taken before them gives exactly the `snapshot()` of now, series sorted by key as `snapshot()` sorts them.
"""

from __future__ import annotations

from typing import Any

from services.common.domain.evaluation.rule_engine import SNAPSHOT_FORMAT


def apply_changes(snapshot: dict[str, Any], changes: dict[str, Any]) -> None:
    """Bring `snapshot` (an engine's `snapshot()` output) forward by `changes`, in place: O(changed), so the caller
    must own every dict of it (decoded from JSON, not the engine's cached series).

    ValueError when either is of another format: an incremental snapshot never mixes formats.
    """
    for data in (snapshot, changes):
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {data.get('format')!r}")
    rules: dict[str, Any] = snapshot["rules"]
    for rule_id, change in changes["rules"].items():
        if change is None:
            rules.pop(rule_id, None)
            continue
        entry = rules.get(rule_id)
        if entry is None:
            entry = rules[rule_id] = {"semantics": change["semantics"], "series": {}}
        entry["semantics"] = change["semantics"]
        series = entry["series"]
        for key in change["removed"]:
            series.pop(key, None)
        series.update(change["series"])


def in_order(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The engine snapshot with rules and series sorted by id and key, as `snapshot()` writes them."""
    rules = snapshot["rules"]
    ordered = {
        rule_id: {"semantics": rules[rule_id]["semantics"], "series": dict(sorted(rules[rule_id]["series"].items()))}
        for rule_id in sorted(rules)
    }
    return {"format": snapshot["format"], "rules": ordered}
