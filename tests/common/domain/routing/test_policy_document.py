"""A tenant's policy document: each refusal names its field, limits bound it, and the tester adds channels and
time-interval muting to `routes_for` (table-driven, literal UTC times)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from services.common.domain.routing.policy_document import (
    PolicyDocumentError,
    PolicyLimits,
    channel_refs,
    parse_policy,
)
from services.common.domain.routing.policy_tester import label_errors, route_labels

RECEIVERS = [{"name": "ops", "channels": ["hook"]}, {"name": "db", "channels": ["a", "b"]}]
INTERVALS = [{"name": "nights", "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}]}]


def _doc(route: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"route": route, "receivers": RECEIVERS, "time_intervals": INTERVALS, **extra}


def _child(**fields: Any) -> dict[str, Any]:
    return _doc({"receiver": "ops", "routes": [fields]})


REFUSED = [
    (_doc({"receiver": "ops"}, inhibit_rules=[]), ("inhibit_rules",), "/cep/inhibit-rules"),
    (_doc({"group_by": ["a"]}), ("route", "receiver"), "root route must specify a default receiver"),
    (_doc({"receiver": "ops", "matchers": ["a=b"]}), ("route", "matchers", 0), "root route must not have any matchers"),
    (_doc({"receiver": "ops", "mute_time_intervals": ["nights"]}), ("route", "mute_time_intervals"), "root route"),
    (_child(receiver="nope"), ("route", "routes", 0, "receiver"), "undefined receiver 'nope'"),
    (_child(group_wait="5 minutes"), ("route", "routes", 0, "group_wait"), "not a valid duration"),
    (_child(repeat_interval="0"), ("route", "routes", 0, "repeat_interval"), "repeat_interval cannot be zero"),
    (_child(group_by=["...", "a"]), ("route", "routes", 0, "group_by"), "wildcard"),
    (_child(matchers=["a=b", "c=~("]), ("route", "routes", 0, "matchers", 1), "regular expression"),
    (_child(match_re={"x": "("}), ("route", "routes", 0, "match_re", "x"), "regular expression"),
    (_child(active_time_intervals=["days"]), ("route", "routes", 0, "active_time_intervals", 0), "'days'"),
    (_child(continue_="yes"), ("route", "routes", 0, "continue_"), "unknown field"),
    (_child(routes={"receiver": "ops"}), ("route", "routes", 0, "routes"), "a list of routes"),
    (_child(group_by="alertname"), ("route", "routes", 0, "group_by"), "a list of strings"),
    (
        {**_doc({"receiver": "ops"}), "receivers": [{"name": "ops"}, {"name": "ops"}]},
        ("receivers", 1, "name"),
        "unique",
    ),
    (
        {**_doc({"receiver": "ops"}), "receivers": [{"name": "ops", "email_configs": []}]},
        ("receivers", 0, "email_configs"),
        "unknown",
    ),
    (
        {**_doc({"receiver": "ops"}), "time_intervals": [{"name": "x", "time_intervals": [{"months": ["smarch"]}]}]},
        ("time_intervals", 0, "time_intervals", 0),
        "smarch",
    ),
    ("route: {}", (), "JSON object"),
]


@pytest.mark.parametrize(("document", "loc", "message"), REFUSED)
def test_each_refusal_names_its_field(document: Any, loc: tuple[Any, ...], message: str) -> None:
    with pytest.raises(PolicyDocumentError) as refused:
        parse_policy(document, PolicyLimits())
    assert [error.loc for error in refused.value.errors] == [loc]
    assert message in refused.value.errors[0].msg


def test_limits() -> None:
    chain: dict[str, Any] = {"receiver": "ops"}
    for _ in range(3):
        chain = {"receiver": "ops", "routes": [chain]}
    limits = PolicyLimits(max_depth=3, max_routes=4, max_receivers=2, max_channels=2, max_time_intervals=1)
    parse_policy(_doc(chain), limits)  # 3 levels below the root, 4 routes: within
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_DEPTH"):
        parse_policy(_doc({"receiver": "ops", "routes": [chain]}), limits)
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_ROUTES"):
        parse_policy(_doc({"receiver": "ops", "routes": [{}, {}, {}, {}]}), limits)
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_CHANNELS"):
        parse_policy({**_doc({"receiver": "ops"}), "receivers": [{"name": "ops", "channels": ["a", "b", "c"]}]}, limits)
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_RECEIVERS"):
        parse_policy({**_doc({"receiver": "ops"}), "receivers": [*RECEIVERS, {"name": "x"}]}, limits)
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_TIME_INTERVALS"):
        parse_policy({**_doc({"receiver": "ops"}), "time_intervals": INTERVALS * 2}, limits)
    with pytest.raises(PolicyDocumentError, match="CEP_POLICY_MAX_BYTES"):
        parse_policy(_doc({"receiver": "ops"}), PolicyLimits(max_bytes=100))


def test_channel_refs_name_their_places() -> None:
    policy = parse_policy(_doc({"receiver": "ops"}), PolicyLimits())
    assert channel_refs(policy) == [
        (("receivers", 0, "channels", 0), "hook"),
        (("receivers", 1, "channels", 0), "a"),
        (("receivers", 1, "channels", 1), "b"),
    ]


TESTED = [
    ({"team": "db", "severity": "page"}, "2026-12-06T23:30:00Z", "db,ops", [True, False]),
    ({"team": "db", "severity": "page"}, "2026-12-06T12:00:00Z", "db,ops", [False, False]),
    ({"team": "db"}, "2026-12-06T22:00:00Z", "db", [True]),
    ({"team": "web", "env": ""}, "2026-12-06T23:30:00Z", "ops", [False]),
    ({"team": "db", "env": "prod"}, "2026-12-06T12:00:00Z", "db", [False]),
]


@pytest.mark.parametrize(("labels", "at", "line", "muted"), TESTED)
def test_the_tester(labels: dict[str, str], at: str, line: str, muted: list[bool]) -> None:
    route = {
        "receiver": "ops",
        "routes": [
            {"matchers": ["env=prod"], "receiver": "db"},
            {"matchers": ['team="db"'], "receiver": "db", "continue": True, "mute_time_intervals": ["nights"]},
            {"matchers": ["severity=page"], "receiver": "ops"},
        ],
    }
    result = route_labels(parse_policy(_doc(route), PolicyLimits()), labels, datetime.fromisoformat(at))
    assert result.line == line and [r.muted_at for r in result.routes] == muted
    channels = {"db": ("a", "b"), "ops": ("hook",)}
    assert [r.channels for r in result.routes] == [channels[r.plan.receiver] for r in result.routes]
    assert all((r.muted_reason is not None) == r.muted_at for r in result.routes)


def test_label_names_are_checked() -> None:
    assert [e.loc for e in label_errors({"ok": "1", "1bad": "x", "a-b": "y"})] == [
        ("labels", "1bad"),
        ("labels", "a-b"),
    ]
