"""A tenant's notification policy: the routing tree, receivers made of channels and named time intervals.

The document has Alertmanager's shape (`route`, `receivers`, `time_intervals`), except that a receiver lists the
tenant's channels (`{"name": "ops", "channels": ["slack-ops"]}`; none: Alertmanager's null receiver). It is
checked field by field so every error names its place (`route.routes.0.receiver`), then by `load_config`, the
same check the route tester and the oracle tests use. Limits bound what one document may hold. Whether the named
channels exist is the caller's question (`channel_refs` lists them with their places).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.common.domain.routing.config import PolicyConfig, load_config
from services.common.domain.routing.route_fields import Loc, check_route
from services.common.domain.rules.errors import FieldError
from services.common.domain.time_intervals.model import TimeIntervalError, parse_time_interval

TOP_KEYS = ("route", "receivers", "time_intervals")
NAME_MAX = 200
_INTERVALS = "CEP_POLICY_MAX_TIME_INTERVALS"


@dataclass(frozen=True)
class PolicyLimits:
    """How much one tenant's policy may hold (CEP_POLICY_MAX_* settings)."""

    max_depth: int = 10  # levels of routes below the root
    max_routes: int = 500  # routes in the whole tree, the root included
    max_receivers: int = 100
    max_channels: int = 20  # channels of one receiver
    max_time_intervals: int = 100  # named time intervals
    max_bytes: int = 262_144  # the document as compact JSON


class PolicyDocumentError(ValueError):
    """A policy document that cannot be accepted; `errors` names every offending field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.path or '(body)'}: {e.msg}" for e in self.errors))


class NotificationPolicy(BaseModel):
    """A checked policy: Alertmanager's configuration, each receiver's channels, and the document as stored."""

    model_config = ConfigDict(frozen=True)

    config: PolicyConfig
    channels: dict[str, tuple[str, ...]]
    document: dict[str, Any]


def parse_policy(raw: Any, limits: PolicyLimits) -> NotificationPolicy:
    """The policy from its document; PolicyDocumentError naming each bad field otherwise."""
    if not isinstance(raw, Mapping):
        raise PolicyDocumentError([FieldError((), "the policy is a JSON object with route, receivers, time_intervals")])
    errors = [FieldError((key,), _unknown_key(key)) for key in raw if key not in TOP_KEYS]
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > limits.max_bytes:
        errors.append(FieldError((), f"the policy is {size} bytes; at most {limits.max_bytes} (CEP_POLICY_MAX_BYTES)"))
    if errors:
        raise PolicyDocumentError(errors)
    channels = _receivers(raw.get("receivers"), limits, errors)
    intervals = _time_intervals(raw.get("time_intervals"), limits, errors)
    route = raw.get("route")
    if not isinstance(route, Mapping):
        errors.append(FieldError(("route",), "required: the root route (an object with a receiver)"))
    else:
        check_route(route, ("route",), set(channels), set(intervals), limits, errors)
    if errors:
        raise PolicyDocumentError(errors)
    document = {"route": route} | {key: raw.get(key) or [] for key in ("receivers", "time_intervals")}
    try:
        config = load_config({**document, "receivers": [{"name": name} for name in channels]})
    except ValueError as exc:  # every check above passed: what is left is named by the domain's message
        raise PolicyDocumentError([FieldError((), str(exc))]) from None
    return NotificationPolicy(config=config, channels=channels, document=json.loads(json.dumps(document)))


def channel_refs(policy: NotificationPolicy) -> list[tuple[Loc, str]]:
    """Every channel the receivers name, with its place (`receivers.1.channels.0`)."""
    refs: list[tuple[Loc, str]] = []
    for index, receiver in enumerate(policy.document["receivers"]):
        for position, ref in enumerate(receiver.get("channels") or ()):
            refs.append((("receivers", index, "channels", position), ref))
    return refs


def _unknown_key(key: Any) -> str:
    if key == "inhibit_rules":
        return "inhibition rules are not part of the policy: they live at /cep/inhibit-rules"
    return f"unknown field; a policy has {', '.join(TOP_KEYS)}"


def _receivers(raw: Any, limits: PolicyLimits, errors: list[FieldError]) -> dict[str, tuple[str, ...]]:
    entries = _list(raw, ("receivers",), limits.max_receivers, "CEP_POLICY_MAX_RECEIVERS", errors)
    found: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(entries):
        loc: Loc = ("receivers", index)
        if not _object(entry, loc, {"name", "channels"}, errors):
            continue
        name = _name(entry.get("name"), (*loc, "name"), found, errors)
        refs = _list(entry.get("channels"), (*loc, "channels"), limits.max_channels, "CEP_POLICY_MAX_CHANNELS", errors)
        for position, ref in enumerate(refs):
            if not isinstance(ref, str) or not ref.strip():
                errors.append(FieldError((*loc, "channels", position), "a channel id or name"))
        if name is not None:
            found[name] = tuple(str(ref) for ref in refs)
    return found


def _time_intervals(raw: Any, limits: PolicyLimits, errors: list[FieldError]) -> set[str]:
    entries = _list(raw, ("time_intervals",), limits.max_time_intervals, _INTERVALS, errors)
    names: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(entries):
        loc: Loc = ("time_intervals", index)
        if not _object(entry, loc, {"name", "time_intervals"}, errors):
            continue
        name = _name(entry.get("name"), (*loc, "name"), names, errors)
        items = _list(
            entry.get("time_intervals"), (*loc, "time_intervals"), limits.max_time_intervals, _INTERVALS, errors
        )
        for position, item in enumerate(items):
            where: Loc = (*loc, "time_intervals", position)
            if not isinstance(item, Mapping):
                errors.append(FieldError(where, "a time interval object (times, weekdays, days_of_month, ...)"))
                continue
            try:
                parse_time_interval(item)
            except (TimeIntervalError, TypeError, AttributeError) as exc:
                errors.append(FieldError(where, str(exc) or "not a valid time interval"))
        if name is not None:
            names[name] = ()
    return set(names)


def _list(raw: Any, loc: Loc, limit: int, setting: str, errors: list[FieldError]) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(FieldError(loc, "a list"))
        return []
    if len(raw) > limit:
        errors.append(FieldError(loc, f"{len(raw)} entries; at most {limit} ({setting})"))
        return []
    return raw


def _object(entry: Any, loc: Loc, keys: set[str], errors: list[FieldError]) -> bool:
    if not isinstance(entry, Mapping):
        errors.append(FieldError(loc, f"an object with {', '.join(sorted(keys))}"))
        return False
    for key in entry:
        if key not in keys:
            errors.append(FieldError((*loc, key), f"unknown field; expected {', '.join(sorted(keys))}"))
    return True


def _name(value: Any, loc: Loc, seen: Mapping[str, Any], errors: list[FieldError]) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        errors.append(FieldError(loc, f"required: a non-empty name of at most {NAME_MAX} characters"))
        return None
    if value in seen:
        errors.append(FieldError(loc, f"{value!r} is not unique"))
        return None
    return value
