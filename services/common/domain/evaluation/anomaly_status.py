"""What an anomaly rule has learned: baseline and latest verdict per group key, and why detection is on or off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.domain.lifecycle.episodes import CompiledRule, Series
from services.common.domain.lifecycle.thresholds import ThresholdSeries
from services.common.domain.rules.triggers import AnomalyTrigger


def anomaly_status(plan: CompiledRule, series: Mapping[str, Series]) -> dict[str, Any]:
    """Baseline and latest verdict per group key of an anomaly rule's series; ValueError for another rule type."""
    trigger = plan.rule.trigger_spec
    if not isinstance(trigger, AnomalyTrigger):
        raise ValueError(f"rule {plan.rule_id} is a {plan.rule.trigger_type} rule, not an anomaly rule")
    keys: dict[str, Any] = {}
    for key, held in sorted(series.items()):
        if isinstance(held, ThresholdSeries) and held.detector is not None:
            keys[key] = {"baseline": held.detector.baseline(), "last": held.last_score}
    ready = bool(keys) and all(entry["baseline"]["ready"] for entry in keys.values())
    return {
        "rule_id": plan.rule_id,
        "tenant": plan.rule.tenant,
        "method": trigger.anomaly_method,
        "active": plan.rule.active,
        "ready": ready,
        "detection": "enabled" if ready else "disabled",
        "reason": _baseline_reason(keys, trigger.min_baseline),
        "keys": keys,
    }


def merged_status(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One anomaly status from those of the shards holding the rule, each over the series it owns (sharding.py)."""
    first = parts[0]
    keys = {key: entry for part in parts for key, entry in part["keys"].items()}
    if not keys:
        return first
    ready = all(entry["baseline"]["ready"] for entry in keys.values())
    required = int(next(iter(keys.values()))["baseline"]["required"])
    return first | {
        "ready": ready,
        "detection": "enabled" if ready else "disabled",
        "reason": _baseline_reason(keys, required),
        "keys": dict(sorted(keys.items())),
    }


def _baseline_reason(keys: dict[str, Any], required: int) -> str:
    """Why detection is enabled or disabled: `learning: 12 of 30 samples ...` (the fewest samples of any key)."""
    samples = min((entry["baseline"]["samples"] for entry in keys.values()), default=0)
    ready = sum(1 for entry in keys.values() if entry["baseline"]["ready"])
    of_keys = f" ({ready} of {len(keys)} group keys ready)" if len(keys) > 1 else ""
    if keys and ready == len(keys):
        return f"baseline ready: {samples} samples, min_baseline {required}{of_keys}"
    return f"learning: {samples} of {required} samples{of_keys}; anomaly detection disabled until the baseline is ready"
