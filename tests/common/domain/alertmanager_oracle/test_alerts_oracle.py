"""`GET /api/v2/alerts` against the real Alertmanager 0.25 (differential): the same alerts, silences and inhibit rule
on both sides; every alert's `silencedBy`, `inhibitedBy` and `status.state`, and what each filter keeps, agree.

Our side is the gateway's route over open events that carry the same label sets (recorded as the recorder records
them), the silences posted to its `/api/v2/silences` and the inhibit rule to `/cep/inhibit-rules`. Alertmanager 0.25
names one inhibiting alert where we name them all (docs/alertmanager.md): its one must be among ours.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.common.domain.alertmanager_oracle.generate import config
from tests.gateway.conftest import mint, settings_for
from tests.support.alertmanager import Alertmanager, stamp
from tests.support.labelled_events import add_labelled_event

SEVERITY = {"down": "critical", "cpu": "warning", "mem": "warning"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path))) as client:
        yield client


def _matcher(name: str, value: str, regex: bool = False, equal: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


def _label_sets(rng: random.Random, suite: str) -> list[dict[str, str]]:
    out = []
    for case, (host, name) in enumerate(itertools.product(["h1", "h2", "h3", "h4"], ["down", "cpu", "mem"])):
        if name == "down" and host in ("h3", "h4"):
            continue  # no critical alert on these hosts: their warnings stay uninhibited
        labels = {"suite": suite, "case": str(case), "alertname": name, "host": host, "severity": SEVERITY[name]}
        labels["team"] = rng.choice(["db", "web"])
        if rng.random() < 0.3:
            labels["env"] = "" if rng.random() < 0.5 else "prod"  # an empty value is no label, on both sides
        out.append(labels)
    return out


def _silences(suite: str) -> list[tuple[dict[str, Any], str]]:
    now = datetime.now(UTC)
    s = _matcher("suite", suite)

    def body(matchers: list[dict[str, Any]], start: timedelta = timedelta(0)) -> dict[str, Any]:
        times = {"startsAt": stamp(now + start), "endsAt": stamp(now + start + timedelta(hours=2))}
        return {"matchers": [s, *matchers], **times, "createdBy": "me", "comment": "c"}

    return [
        (body([_matcher("team", "db"), _matcher("host", "h2")]), "active"),
        (body([_matcher("host", "h[34]", regex=True), _matcher("alertname", "down", equal=False)]), "active"),
        (body([_matcher("alertname", "mem")], start=timedelta(hours=1)), "pending"),
        (body([_matcher("host", "h1")]), "expire"),
    ]


def _view(alerts: list[dict[str, Any]], silence_index: dict[str, int]) -> dict[str, tuple[Any, ...]]:
    return {
        a["labels"]["case"]: (
            a["status"]["state"],
            tuple(sorted(silence_index[s] for s in a["status"]["silencedBy"])),
            frozenset(a["status"]["inhibitedBy"]),
        )
        for a in alerts
    }


def _disagreements(ours: dict[str, tuple[Any, ...]], theirs: dict[str, tuple[Any, ...]]) -> list[str]:
    problems = [f"case {c}: only one side lists it" for c in sorted(set(ours) ^ set(theirs))]
    for case in sorted(set(ours) & set(theirs)):
        (state, silenced, inhibited), (their_state, their_silenced, their_inhibited) = ours[case], theirs[case]
        if state != their_state or silenced != their_silenced:
            problems.append(f"case {case}: ours {ours[case]}, Alertmanager {theirs[case]}")
        elif bool(inhibited) != bool(their_inhibited) or not their_inhibited <= inhibited:
            problems.append(f"case {case}: inhibitedBy ours {inhibited}, Alertmanager {their_inhibited}")
    return problems


def test_alert_states_and_filters_agree_with_alertmanager(alertmanager: Alertmanager, gateway: TestClient) -> None:
    suite = f"alerts-{uuid.uuid4().hex[:8]}"
    rng = random.Random(1717)
    rule = {
        "source_matchers": [f'suite="{suite}"', 'severity="critical"'],
        "target_matchers": [f'suite="{suite}"', 'severity="warning"'],
        "equal": ["host"],
    }
    alertmanager.reload(config({"receiver": "null"}, ["null"], [rule]))
    tenant = f"o-{uuid.uuid4().hex[:8]}"
    editor = mint(gateway, tenant, "editor")
    assert gateway.post("/cep/inhibit-rules", headers=editor, json=rule).status_code == 201

    label_sets = _label_sets(rng, suite)
    now = datetime.now(UTC)
    alertmanager.post_alerts([{"labels": labels, "endsAt": stamp(now + timedelta(hours=1))} for labels in label_sets])
    for labels in label_sets:
        add_labelled_event(gateway, tenant, {k: v for k, v in labels.items() if v})

    ours_index: dict[str, int] = {}
    theirs_index: dict[str, int] = {}
    for index, (body, kind) in enumerate(_silences(suite)):
        mine = gateway.post("/api/v2/silences", headers=editor, json=body).json()["silenceID"]
        theirs = alertmanager.post_silence(body).json()["silenceID"]
        ours_index[mine], theirs_index[theirs] = index, index
        if kind == "expire":
            gateway.delete(f"/api/v2/silence/{mine}", headers=editor)
            alertmanager.expire(theirs)

    flags = ["active", "silenced", "inhibited"]
    combos = [dict(zip(flags, values, strict=True)) for values in itertools.product(["true", "false"], repeat=3)]
    queries = [{**c, "filter": [f"suite={suite}"]} for c in combos]
    queries += [{"filter": [f"suite={suite}", "team=db"]}, {"filter": [f"suite={suite}", 'host=~"h[12]"']}]

    def compare() -> list[str]:
        problems = []
        for query in queries:
            ours = gateway.get("/api/v2/alerts", headers=editor, params=query).json()
            theirs = alertmanager.client.get("/api/v2/alerts", params=query).json()
            problems += [f"{query}: {p}" for p in _disagreements(_view(ours, ours_index), _view(theirs, theirs_index))]
        return problems

    # Alertmanager's inhibitor and dispatcher learn of posted alerts asynchronously: ask until it has caught up.
    deadline = time.monotonic() + 15
    while compare() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert compare() == []
    # The case is not trivial: some alerts of each kind.
    states = _view(
        gateway.get("/api/v2/alerts", headers=editor, params={"filter": f"suite={suite}"}).json(), ours_index
    )
    assert sum(bool(s[1]) for s in states.values()) >= 2 and sum(bool(s[2]) for s in states.values()) >= 2
    assert sum(s[0] == "active" for s in states.values()) >= 2
