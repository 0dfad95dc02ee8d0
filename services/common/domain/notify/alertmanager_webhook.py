"""The body Alertmanager's webhook receiver sends (`version: "4"`), built from our events, so receivers written for
Alertmanager (their parsers, their templates, their de-duplication by fingerprint) work unchanged.

A webhook channel with `format: alertmanager` sends this instead of our event JSON. One notification (one event, or
one batch of the grouping stage) is one body: `alerts` holds each event as Alertmanager shows an alert (`status`,
`labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`, `fingerprint`); `commonLabels` and
`commonAnnotations` are what every alert shares; `groupLabels` are the common labels the group is keyed by
(`alertname` and the group key's names); `groupKey` is written as Alertmanager writes it for its root route
(`{}:{alertname="x", host="a"}`). An alert that has not ended has `endsAt` `0001-01-01T00:00:00Z`, as Alertmanager
sends it. `status` is `firing` while any alert of the body fires.

Labels are the event's own (`labels`, in the contract's precedence); an event recorded before events had labels
gets the rule fields (`alertname`, `severity`, `priority`). Annotations are the event's rendered `annotations`, with
`summary` (the event summary) and `description` (the rendered message) where the rule sets none of those names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.domain.labels.label_set import fingerprint, label_set_text, normalize

VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"


def alert_labels(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's labels; for an event without any, the rule fields every event has."""
    labels = event.get("labels")
    if isinstance(labels, Mapping) and labels:
        return normalize({str(k): str(v) for k, v in labels.items()})
    fallback = {
        "alertname": str(event.get("rule_name") or ""),
        "severity": str(event.get("severity") or ""),
        "priority": str(event.get("priority") or ""),
    }
    return normalize(fallback)


def alert_annotations(event: Mapping[str, Any], message: str | None) -> dict[str, str]:
    """The event's rendered annotations, with `summary` and `description` filled in where the rule sets none."""
    annotations = {"summary": str(event.get("summary") or "")}
    if message:
        annotations["description"] = message
    own = event.get("annotations")
    if isinstance(own, Mapping):
        annotations.update({str(k): str(v) for k, v in own.items()})
    return normalize(annotations)


def alert(event: Mapping[str, Any], *, message: str | None, external_url: str) -> dict[str, Any]:
    """One event as an alert of the webhook body."""
    labels = alert_labels(event)
    resolved = event.get("status") == "resolved" or event.get("kind") == "resolved"
    ended = event.get("resolved_at") or event.get("at")
    return {
        "status": "resolved" if resolved else "firing",
        "labels": labels,
        "annotations": alert_annotations(event, message),
        "startsAt": str(event.get("fired_at") or event.get("at") or ZERO_TIME),
        "endsAt": str(ended) if resolved and ended else ZERO_TIME,
        "generatorURL": _event_url(external_url, event.get("event_id")),
        "fingerprint": fingerprint(labels),
    }


def body(
    events: Sequence[Mapping[str, Any]],
    *,
    receiver: str,
    messages: Sequence[str | None] | None = None,
    group_names: Sequence[str] = (),
    external_url: str = "",
    truncated: int = 0,
    group_labels: Mapping[str, str] | None = None,
    route_key: str = "{}",
) -> dict[str, Any]:
    """The webhook body for these events sent to `receiver` (the channel's name).

    `messages` are the rendered messages per event (None: no description); `group_names` are the label names the
    notification was grouped by (with `alertname`, the names of `groupLabels`); `truncated` counts the alerts a
    batch left out (`truncatedAlerts`). A notification policy route's group gives its own `group_labels` (exactly
    the route's `group_by` labels) and `route_key`, so `groupKey` is Alertmanager's for that route.
    """
    texts = list(messages) if messages is not None else [None] * len(events)
    alerts = [alert(event, message=text, external_url=external_url) for event, text in zip(events, texts, strict=True)]
    common_labels = _common([a["labels"] for a in alerts])
    if group_labels is None:
        names = {"alertname", *group_names}
        group_labels = {name: value for name, value in common_labels.items() if name in names}
    return {
        "version": VERSION,
        "groupKey": group_key(group_labels, route_key),
        "truncatedAlerts": truncated,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": dict(group_labels),
        "commonLabels": common_labels,
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url.rstrip("/"),
        "alerts": alerts,
    }


def group_key(group_labels: Mapping[str, str], route_key: str = "{}") -> str:
    """`{}:{alertname="x", host="a"}`: Alertmanager's group key, the route's key (its root's by default) and the
    group's labels (names sorted, values quoted)."""
    return route_key + ":" + label_set_text(group_labels)


def group_names_of(group_key_text: str | None) -> list[str]:
    """The label names of a group key as the notifier writes it (`host=a,region=eu`); [] for none."""
    if not group_key_text:
        return []
    return [part.split("=", 1)[0] for part in group_key_text.split(",") if "=" in part]


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The name/value pairs every map has."""
    if not maps:
        return {}
    first, rest = maps[0], maps[1:]
    return {name: value for name, value in first.items() if all(m.get(name) == value for m in rest)}


def _event_url(external_url: str, event_id: Any) -> str:
    if not external_url:
        return ""
    base = external_url.rstrip("/")
    return f"{base}/cep-events?event={event_id}" if event_id else f"{base}/cep-events"
