"""Alertmanager's v2 alert routes on the gateway: every open event as a `gettableAlert` with its query-time state
(a silence, an inhibit rule), the filters, groups, tenant isolation, `silenced_by`/`inhibited_by` on /cep/events,
and the 400s of a bad post or filter (the reason as a JSON string, naming the field)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from services.common.domain.labels.label_set import fingerprint
from tests.gateway.conftest import create_rule, is_problem, mint
from tests.support.alertmanager import stamp
from tests.support.labelled_events import add_labelled_event

ALERT_KEYS = {
    "labels",
    "annotations",
    "receivers",
    "fingerprint",
    "startsAt",
    "endsAt",
    "updatedAt",
    "generatorURL",
    "status",
}
DOWN = {"alertname": "down", "host": "h1", "severity": "critical"}
CPU = {"alertname": "cpu", "host": "h1", "severity": "warning"}
CPU2 = {"alertname": "cpu", "host": "h2", "severity": "warning"}


def _tenant() -> str:
    return f"aa-{uuid.uuid4().hex[:10]}"


def _silence(client: TestClient, headers: dict[str, str], name: str, value: str, regex: bool = False) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": name, "value": value, "isRegex": regex, "isEqual": True}],
        "startsAt": stamp(now),
        "endsAt": stamp(now + timedelta(hours=1)),
        "createdBy": "me",
        "comment": "c",
    }
    response = client.post("/api/v2/silences", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["silenceID"])


def _names(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["labels"]["host"]) for a in alerts)


def test_open_events_as_alerts_with_their_state_filters_and_groups(client: TestClient) -> None:
    tenant, other = _tenant(), _tenant()
    editor, viewer, stranger = (
        mint(client, tenant, "editor"),
        mint(client, tenant, "viewer"),
        mint(client, other, "editor"),
    )
    client.post(
        "/cep/channels",
        headers=editor,
        json={"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}},
    )
    rule = create_rule(
        client, editor, action_spec=[{"type": "webhook", "channel": "ops-hook", "message": "m"}], name="hooked"
    )
    down = add_labelled_event(client, tenant, DOWN, rule_id=rule["rule_id"])
    cpu = add_labelled_event(client, tenant, CPU)
    cpu2 = add_labelled_event(client, tenant, CPU2)
    add_labelled_event(client, other, {**DOWN, "host": "h2"})  # another tenant's: never a source, never listed
    client.post(
        "/cep/inhibit-rules",
        headers=editor,
        json={"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"], "equal": ["host"]},
    )
    sid = _silence(client, editor, "host", "h2")
    _silence(client, stranger, "alertname", ".+", regex=True)  # another tenant's silence mutes nothing here

    alerts = client.get("/api/v2/alerts", headers=viewer).json()
    assert all(set(a) == ALERT_KEYS and all(a[k] is not None for k in ALERT_KEYS) for a in alerts)
    by_host = {(a["labels"]["alertname"], a["labels"]["host"]): a for a in alerts}
    assert set(by_host) == {("down", "h1"), ("cpu", "h1"), ("cpu", "h2")}
    assert by_host["down", "h1"]["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert by_host["cpu", "h1"]["status"] == {
        "state": "suppressed",
        "silencedBy": [],
        "inhibitedBy": [fingerprint(DOWN)],
    }
    assert by_host["cpu", "h2"]["status"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}
    assert by_host["down", "h1"]["fingerprint"] == fingerprint(DOWN)
    assert by_host["down", "h1"]["receivers"] == [{"name": "ops-hook"}]
    assert by_host["cpu", "h1"]["receivers"] == [{"name": "blackhole"}]
    assert by_host["down", "h1"]["generatorURL"].endswith(f"/cep/events/{down}")
    for alert in alerts:
        starts, ends = datetime.fromisoformat(alert["startsAt"]), datetime.fromisoformat(alert["endsAt"])
        assert ends - datetime.fromisoformat(alert["updatedAt"]) == timedelta(minutes=5) and starts < ends

    def listed(**params: Any) -> list[tuple[str, str]]:
        response = client.get("/api/v2/alerts", headers=viewer, params=params)
        assert response.status_code == 200, response.text
        return _names(response.json())

    assert listed(active="false") == [("cpu", "h1"), ("cpu", "h2")]
    assert listed(silenced="false") == [("cpu", "h1"), ("down", "h1")]
    assert listed(inhibited="false") == [("cpu", "h2"), ("down", "h1")]
    assert listed(silenced="false", inhibited="false") == [("down", "h1")]
    assert listed(unprocessed="false") == listed()
    assert listed(filter="alertname=cpu") == [("cpu", "h1"), ("cpu", "h2")]
    assert listed(filter=['alertname=~"c.*"', "host!=h1"]) == [("cpu", "h2")]
    assert listed(receiver="ops-.*") == [("down", "h1")]
    assert listed(receiver="ops") == []  # anchored, as Alertmanager anchors it

    groups = client.get("/api/v2/alerts/groups", headers=viewer).json()
    assert [(g["receiver"]["name"], g["labels"], len(g["alerts"])) for g in groups] == [
        ("blackhole", {}, 2),
        ("ops-hook", {}, 1),
    ]
    assert (
        client.get("/api/v2/alerts/groups", headers=viewer, params={"silenced": "false"}).json()[0]["alerts"][0][
            "labels"
        ]
        == CPU
    )

    # /cep/events: the same decision, silences by id and inhibiting events by id.
    events = {e["event_id"]: e for e in client.get("/cep/events", headers=viewer).json()["items"]}
    assert (events[cpu]["silenced_by"], events[cpu]["inhibited_by"]) == ([], [down])
    assert (events[cpu2]["silenced_by"], events[cpu2]["inhibited_by"]) == ([sid], [])
    one = client.get(f"/cep/events/{down}", headers=viewer).json()
    assert (one["silenced_by"], one["inhibited_by"]) == ([], [])

    # The other tenant sees its own event only, active: our inhibit rule and silence are not its.
    theirs = client.get("/api/v2/alerts", headers=stranger).json()
    assert [(a["labels"]["host"], a["status"]["state"], a["status"]["silencedBy"] != []) for a in theirs] == [
        ("h2", "suppressed", True)
    ]


def test_a_posted_alert_event_reports_what_was_posted(client: TestClient) -> None:
    tenant = _tenant()
    viewer = mint(client, tenant, "viewer")
    labels = {"alertname": "Disk", "instance": "db-1"}
    payload = {
        "event_type": "alertmanager.alert",
        "labels": labels,
        "annotations": {"summary": "disk full"},
        "startsAt": "2025-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "generatorURL": "http://prom/graph?g0.expr=x",
    }
    add_labelled_event(client, tenant, labels, rule_id="am-alerts-0123456789abcdef", payload=payload)
    [alert] = client.get("/api/v2/alerts", headers=viewer).json()
    assert alert["labels"] == labels and alert["annotations"] == {"summary": "disk full"}
    assert (alert["startsAt"], alert["endsAt"]) == ("2025-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
    assert alert["generatorURL"] == "http://prom/graph?g0.expr=x"


BAD_FILTERS = [
    ({"filter": "alertname=~("}, "filter: "),
    ({"filter": "=x"}, "filter: "),
    ({"receiver": "("}, "receiver: invalid regular expression"),
]
BAD_POSTS = [
    ({"labels": {"a": "1"}}, "the body must be a JSON array"),
    ([{"labels": {}}], "[0].labels: at least one label pair required"),
    ([{"labels": {"a": "1"}}, {"labels": {"bad-name": "x"}}], "[1].labels.bad-name: invalid label name"),
    ([{"labels": {"a": "x" * 4097}}], "[0].labels.a: a value is at most 4096 characters"),
    ([{"labels": {"a": "1"}}] * 1001, "at most 1000 alerts in one post, got 1001"),
    ([{"labels": {"a": "1"}, "startsAt": "2025-01-02T00:00:00Z", "endsAt": "2025-01-01T00:00:00Z"}], "before"),
]


def test_a_bad_filter_or_post_is_400_with_the_reason_as_text(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    for params, message in BAD_FILTERS:
        for path in ("/api/v2/alerts", "/api/v2/alerts/groups"):
            response = client.get(path, headers=editor, params=params)
            assert response.status_code == 400 and message in response.json(), response.text
    for body, message in BAD_POSTS:
        response = client.post("/api/v2/alerts", headers=editor, json=body)
        assert response.status_code == 400 and message in response.json(), response.text
    malformed = client.post(
        "/api/v2/alerts",
        headers=editor,
        content=b"[{",
    )
    assert malformed.status_code == 400
    assert client.get("/cep/rules", headers=editor).json()["total"] == 0  # no built-in rule for a refused post


def test_post_limits_are_settings(tmp_path: Any) -> None:
    from services.gateway.app import create_app
    from tests.gateway.conftest import settings_for

    settings = settings_for(tmp_path, am_alerts_max_per_post=2, am_alert_max_labels=1)
    with TestClient(create_app(settings)) as small:
        editor = mint(small, _tenant(), "editor")
        over = small.post("/api/v2/alerts", headers=editor, json=[{"labels": {"a": "1"}}] * 3)
        assert over.status_code == 400 and "at most 2 alerts" in over.json()
        labels = small.post("/api/v2/alerts", headers=editor, json=[{"labels": {"a": "1", "b": "2"}}])
        assert labels.status_code == 400 and "[0].labels: at most 1 entries" in labels.json()


def test_roles_and_tokens(client: TestClient) -> None:
    viewer = mint(client, _tenant(), "viewer")
    is_problem(client.post("/api/v2/alerts", headers=viewer, json=[{"labels": {"a": "1"}}]), 403)
    is_problem(client.get("/api/v2/alerts"), 401)
    is_problem(client.get("/api/v2/alerts/groups", headers={"Authorization": "Bearer nope"}), 401)


def test_flags_read_as_alertmanager_reads_them(client: TestClient) -> None:
    tenant = _tenant()
    viewer = mint(client, tenant, "viewer")
    add_labelled_event(client, tenant, CPU)
    assert len(client.get("/api/v2/alerts", headers=viewer, params={"active": "1"}).json()) == 1
    assert client.get("/api/v2/alerts", headers=viewer, params={"active": "False"}).json() == []
    for path in ("/api/v2/alerts", "/api/v2/alerts/groups"):
        bad = client.get(path, headers=viewer, params={"silenced": "maybe"})
        assert bad.status_code == 400 and bad.json() == "silenced in query must be of type boolean: 'maybe'"


def test_a_posted_alert_past_its_ends_at_is_no_longer_listed(client: TestClient) -> None:
    tenant = _tenant()
    viewer = mint(client, tenant, "viewer")
    labels = {"alertname": "Gone"}
    payload = {
        "labels": labels,
        "annotations": {},
        "startsAt": "2025-01-01T00:00:00Z",
        "endsAt": "2025-01-01T00:05:00Z",
    }
    add_labelled_event(client, tenant, labels, rule_id="am-alerts-0123456789abcdef", payload=payload)
    assert client.get("/api/v2/alerts", headers=viewer).json() == []


def test_groups_follow_the_tenants_notification_policy(client: TestClient) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    policy = {
        "version": 0,
        "route": {
            "receiver": "ops",
            "group_by": ["alertname"],
            "routes": [{"matchers": ['team="db"'], "receiver": "db", "group_by": ["alertname", "host"]}],
        },
        "receivers": [{"name": "ops", "channels": []}, {"name": "db", "channels": []}],
    }
    assert client.put("/cep/notification-policies", headers=editor, json=policy).status_code in (200, 201)
    for labels in (
        {"alertname": "Down", "team": "db", "host": "h1"},
        {"alertname": "Down", "team": "db", "host": "h2"},
        {"alertname": "Cpu", "team": "web", "host": "h1"},
        {"alertname": "Cpu", "team": "web", "host": "h2"},
    ):
        add_labelled_event(client, tenant, labels, rule_id=f"rule-{labels['team']}")
    groups = client.get("/api/v2/alerts/groups", headers=editor).json()
    assert [(g["receiver"]["name"], g["labels"], len(g["alerts"])) for g in groups] == [
        ("ops", {"alertname": "Cpu"}, 2),  # Alertmanager's order: fewer group labels first, then by their values
        ("db", {"alertname": "Down", "host": "h1"}, 1),
        ("db", {"alertname": "Down", "host": "h2"}, 1),
    ]
    only_db = client.get("/api/v2/alerts/groups", headers=editor, params={"receiver": "db"}).json()
    assert {g["receiver"]["name"] for g in only_db} == {"db"}
    other = mint(client, _tenant(), "viewer")  # another tenant sees none of it
    assert client.get("/api/v2/alerts/groups", headers=other).json() == []
