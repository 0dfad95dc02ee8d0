"""The label set of an event of a rule, in the contract's precedence (lowest first, later wins):

1. `severity`, `priority` and `alertname` (= the rule's name), from the rule;
2. the rule's own `labels`;
3. the group key values, one label per `group_by` path.

Silences, inhibition and routing match these labels; `GET /api/v2/alerts` reports them and hashes them into the
fingerprint. A group-by path is a payload path (`meta.host`) and may hold characters a Prometheus label name
cannot (`.`, `-`), so its label name is the path with each such character written as `_` (`meta_host`); a value
that is not a string is written as compact JSON, as the group key writes it. Empty values are dropped, as
Alertmanager drops them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from services.common.domain.labels.label_set import normalize

_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")


def label_name(path: str) -> str:
    """The label name of a group-by path: `meta.host` -> `meta_host`; a leading digit gets a `_` in front."""
    name = _NOT_NAME_CHAR.sub("_", path) or "_"
    return f"_{name}" if name[0].isdigit() else name


def label_value(value: Any) -> str:
    """A group key value as a label value: text unchanged, anything else as compact JSON (as the group key)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_labels(
    *,
    rule_name: str,
    severity: str,
    priority: str,
    rule_labels: Mapping[str, str] | None,
    group_by: Sequence[str] | None,
    group_values: Sequence[Any] | None,
) -> dict[str, str]:
    """The labels of an event of this rule with these group key values (see the module's docstring)."""
    labels: dict[str, str] = {"severity": severity, "priority": priority, "alertname": rule_name}
    labels.update(rule_labels or {})
    for path, value in zip(group_by or (), group_values or (), strict=True):
        labels[label_name(path)] = label_value(value)
    return normalize(labels)
