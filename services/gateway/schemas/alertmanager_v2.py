"""The one mapping between our models and Alertmanager's v2 JSON (api/v2/openapi.yaml), as Alertmanager's own
`api/v2` package maps its internals: silences both ways, receivers, the status document.

Every property the v2 schema requires is present and non-null. A posted silence (`postableSilence`) is read into
the same draft `/cep/silences` reads, so both APIs validate alike; its problems come back as Alertmanager's 400
text naming the v2 field (`matchers[0].value: ...`). Open events map to `gettableAlert`s and `alertGroups`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cmp_to_key
from typing import Any

import yaml

from services.common.db.tables import EventRow, SilenceRow
from services.common.domain.events.model import parse_time
from services.common.domain.labels.label_set import fingerprint, label_set_text
from services.common.domain.labels.matchers import to_api
from services.common.domain.muting.muting_state import Muting
from services.common.domain.posted_alerts.builtin_rule import BUILTIN_RULE_PREFIX, RESOLVE_TIMEOUT
from services.common.domain.routing.match import match
from services.common.domain.routing.route_groups import alert_group, label_set_before
from services.common.domain.routing.tree import Route
from services.common.domain.rules.errors import FieldError
from services.common.domain.silences.model import SilenceDraft
from services.gateway.rest.problems import PROBLEM_MEDIA_TYPE, Problem
from services.gateway.row_codec import rfc3339
from services.gateway.schemas.inhibit_rules import config_form
from services.gateway.schemas.silences import RecurringDraft, fixed_silence, parse_silence, row_state

# The Alertmanager release whose v2 API this speaks (clients such as Grafana pick features by it).
ALERTMANAGER_VERSION = "0.25.0"
_SILENCE_FIELDS = {
    "id": "id",
    "matchers": "matchers",
    "startsAt": "starts_at",
    "endsAt": "ends_at",
    "createdBy": "created_by",
    "comment": "comment",
}
_V2_NAMES = {ours: theirs for theirs, ours in _SILENCE_FIELDS.items()}


def silence_v2(row: SilenceRow, now: datetime) -> dict[str, Any]:
    """A fixed silence as a `gettableSilence`."""
    silence = fixed_silence(row)
    return {
        "id": silence.id,
        "status": {"state": row_state(row, now).value},
        "updatedAt": rfc3339(silence.updated_at),
        "comment": silence.comment,
        "createdBy": silence.created_by,
        "endsAt": rfc3339(silence.ends_at),
        "matchers": [to_api(m) for m in silence.matchers],
        "startsAt": rfc3339(silence.starts_at),
    }


def postable_silence(data: Any, *, author: str, now: datetime) -> tuple[str | None, SilenceDraft]:
    """A `postableSilence` into the id it edits (None: a new silence) and its draft; a 400 naming the field."""
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object (a postableSilence)")
    unknown = sorted(key for key in data if key not in _SILENCE_FIELDS)
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} of a postableSilence")
    for required in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
        if data.get(required) is None:
            raise bad_request(f"{required} in body is required")
    silence_id = data.get("id") or None
    if silence_id is not None and not isinstance(silence_id, str):
        raise bad_request("id in body must be of type string")
    body = {_SILENCE_FIELDS[key]: value for key, value in data.items() if key != "id"}
    try:
        draft = parse_silence(body, author=author, now=now)
    except Problem as exc:
        raise bad_request("; ".join(_v2_message(error) for error in exc.errors) or exc.detail) from None
    assert not isinstance(draft, RecurringDraft)  # `recurrence` is not a v2 field, so the draft is fixed
    return silence_id, draft


class BadRequest(ValueError):
    """Alertmanager's 400: its body is the message as a JSON string (what amtool's client decodes and prints)."""


def bad_request(message: str) -> BadRequest:
    return BadRequest(message)


def receivers_v2(names: list[str]) -> list[dict[str, str]]:
    """The `receiver` objects of these names."""
    return [{"name": name} for name in names]


def status_v2(
    *,
    tenant: str,
    receivers: list[str],
    inhibit_specs: list[dict[str, Any]],
    started_at: datetime,
    product_version: str,
) -> dict[str, Any]:
    """An `alertmanagerStatus`: the version, a cluster of one (gossip disabled), the tenant's configuration as
    Alertmanager's YAML (receivers = its channels, its inhibit rules) and the start time."""
    return {
        "cluster": {"name": tenant, "status": "disabled", "peers": []},
        "versionInfo": {
            "version": ALERTMANAGER_VERSION,
            "revision": f"cep-{product_version}",
            "branch": "cep",
            "buildUser": "cep",
            "buildDate": "",
            "goVersion": "none (python)",
        },
        "config": {"original": config_yaml(receivers, inhibit_specs)},
        "uptime": rfc3339(started_at),
    }


def config_yaml(receivers: list[str], inhibit_specs: list[dict[str, Any]]) -> str:
    """The tenant's configuration as Alertmanager would hold it: a route to the first receiver, the receivers,
    the inhibit rules (a tenant without channels gets a `blackhole` receiver, as a route needs one)."""
    names = receivers or ["blackhole"]
    config: dict[str, Any] = {
        "route": {"receiver": names[0]},
        "receivers": [{"name": name} for name in names],
        "inhibit_rules": [config_form(spec) for spec in inhibit_specs],
    }
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _v2_message(error: FieldError) -> str:
    path = ""
    for part in error.loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _V2_NAMES.get(part, part) if not path else part
            path += f".{name}" if path else name
    return f"{path}: {error.msg}" if path else error.msg


def alert_v2(
    row: EventRow, labels: dict[str, str], muting: Muting, receivers: list[str], generator_url: str
) -> dict[str, Any]:
    """An open event as a `gettableAlert`: its labels and fingerprint, times, receivers and query-time status.

    A posted alert (its rule is the tenant's built-in rule) reports what was posted last: annotations, `startsAt`,
    `endsAt` (the posted one, else its last receipt + 5m) and `generatorURL`. Any other event starts when it fired
    and ends, as far as the API can say, `RESOLVE_TIMEOUT` after it was last seen; its annotations are the rule's
    as rendered, and its `generatorURL` is the event in this product.
    """
    payload = row.payload or {}
    posted = row.rule_id.startswith(BUILTIN_RULE_PREFIX) and isinstance(payload.get("labels"), dict)
    starts = _posted_time(payload, "startsAt") if posted else None
    ends = _posted_time(payload, "endsAt") if posted else None
    annotations = posted_annotations(payload) if posted else dict(row.annotations or {})
    url = payload.get("generatorURL") if posted else None
    return {
        "labels": labels,
        "annotations": annotations,
        "receivers": receivers_v2(receivers),
        "fingerprint": fingerprint(labels),
        "startsAt": rfc3339(min(starts, row.fired_at) if starts is not None else row.fired_at),
        "endsAt": rfc3339(ends if ends is not None else row.last_seen + RESOLVE_TIMEOUT),
        "updatedAt": rfc3339(row.last_seen),
        "generatorURL": url if isinstance(url, str) and url else generator_url,
        "status": {
            "state": muting.state,
            "silencedBy": list(muting.silenced_by),
            "inhibitedBy": list(muting.inhibited_by),
        },
    }


def alert_groups_v2(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`alertGroups` as Alertmanager's root route with `group_by: []` forms them: one group per receiver, with
    empty group labels, holding every alert that goes to it (an alert with two receivers is in both groups)."""
    by_receiver: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        for receiver in alert["receivers"]:
            by_receiver.setdefault(receiver["name"], []).append(alert)
    return [{"labels": {}, "receiver": {"name": name}, "alerts": by_receiver[name]} for name in sorted(by_receiver)]


def policy_alert_groups(alerts: list[dict[str, Any]], root: Route) -> list[dict[str, Any]]:
    """`alertGroups` as the tenant's notification policy forms them, as Alertmanager does: one group per matched
    route and its `group_by` labels' values (`...`: all labels), named by the route's receiver and those labels
    (an alert two routes take, `continue`, is in both groups), in Alertmanager's order: by group labels
    (`label_set_before`), then receiver, then route."""
    groups: dict[tuple[str, tuple[int, ...], str], dict[str, Any]] = {}
    for alert in alerts:
        labels = {str(k): str(v) for k, v in alert["labels"].items()}
        for route in match(root, labels):
            found = alert_group(route, labels)
            key = (route.receiver, route.path, label_set_text(found))
            group = groups.setdefault(key, {"labels": found, "receiver": {"name": route.receiver}, "alerts": []})
            group["alerts"].append(alert)
    ordered = [groups[key] for key in sorted(groups)]  # receiver, then route: the tie-break of equal labels
    ordered.sort(key=cmp_to_key(lambda a, b: label_set_before(a["labels"], b["labels"])))
    return ordered


def posted_annotations(payload: dict[str, Any]) -> dict[str, str]:
    raw = payload.get("annotations")
    return {str(k): v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}


def _posted_time(payload: dict[str, Any], name: str) -> datetime | None:
    raw = payload.get(name)
    try:
        return parse_time(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


# How the v2 routes document what amtool and Prometheus rely on (services/gateway/routes/alertmanager_*.py): a 400's
# body is the reason as a JSON string, as Alertmanager answers (a body that is not JSON at all is the gateway's
# usual problem); some 200s have no body at all.
BAD_REQUEST_V2: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "the reason, as a JSON string (as Alertmanager answers); a malformed body: problem details",
        "content": {
            "application/json": {"schema": {"type": "string"}},
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}},
        },
    }
}
