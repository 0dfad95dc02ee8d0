"""Alertmanager's v2 API on the gateway: shapes and status codes as the OpenAPI document has them, filters and
order held to the real Alertmanager, the status document's configuration checked by amtool, and amtool itself,
unchanged, against a live gateway (silence add, query, query -o json, expire), its results read back over REST."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.gateway.conftest import is_problem, mint
from tests.gateway.live_gateway import LiveGateway, start_gateway
from tests.support.alertmanager import AMTOOL, Alertmanager, missing_binaries, stamp, start_alertmanager

SILENCE_KEYS = {"id", "status", "updatedAt", "comment", "createdBy", "endsAt", "matchers", "startsAt"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
needs_amtool = pytest.mark.skipif(missing_binaries() is not None, reason=str(missing_binaries()))


def _tenant() -> str:
    return f"a-{uuid.uuid4().hex[:10]}"


def _v2(
    matchers: list[dict[str, Any]], start: timedelta = timedelta(0), end: timedelta = timedelta(hours=1)
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "matchers": matchers,
        "startsAt": stamp(now + start),
        "endsAt": stamp(now + end),
        "createdBy": "me",
        "comment": "c",
    }


def _m(name: str, value: str, regex: bool = False, equal: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


def test_silence_routes_answer_as_alertmanager_does(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    posted = client.post(
        "/api/v2/silences", headers=editor, json=_v2([_m("alertname", "cpu")], start=-timedelta(hours=1))
    )
    assert posted.status_code == 200, posted.text
    sid = posted.json()["silenceID"]
    assert uuid.UUID(sid) and set(posted.json()) == {"silenceID"}
    silence = client.get(f"/api/v2/silence/{sid}", headers=editor).json()
    assert set(silence) == SILENCE_KEYS and all(silence[key] is not None for key in SILENCE_KEYS)
    assert silence["status"] == {"state": "active"}
    assert silence["matchers"] == [{"name": "alertname", "value": "cpu", "isRegex": False, "isEqual": True}]
    assert datetime.fromisoformat(silence["startsAt"]) > datetime.now(UTC) - timedelta(minutes=1)  # starts now
    # Editing with the same matchers keeps the id; new matchers make a new silence and expire the old one.
    same = client.post(
        "/api/v2/silences",
        headers=editor,
        json={**_v2([_m("alertname", "cpu")]), "id": sid, "startsAt": silence["startsAt"]},
    )
    assert same.status_code == 200 and same.json()["silenceID"] == sid
    moved = client.post("/api/v2/silences", headers=editor, json={**_v2([_m("alertname", "mem")]), "id": sid})
    assert moved.status_code == 200 and moved.json()["silenceID"] != sid
    assert client.get(f"/api/v2/silence/{sid}", headers=editor).json()["status"]["state"] == "expired"
    # A delete expires (200, nothing in the body); the silence stays listed as expired, also over REST.
    new = moved.json()["silenceID"]
    deleted = client.delete(f"/api/v2/silence/{new}", headers=editor)
    assert deleted.status_code == 200 and deleted.content == b""
    assert client.get(f"/cep/silences/{new}", headers=editor).json()["state"] == "expired"
    assert client.delete(f"/api/v2/silence/{new}", headers=editor).status_code == 200
    listed = client.get("/api/v2/silences", headers=editor).json()
    assert {s["id"] for s in listed} == {sid, new} and all(set(s) == SILENCE_KEYS for s in listed)
    is_problem(client.get(f"/api/v2/silence/{uuid.uuid4()}", headers=editor), 404)
    is_problem(
        client.post("/api/v2/silences", headers=editor, json={**_v2([_m("a", "b")]), "id": str(uuid.uuid4())}), 404
    )
    is_problem(client.get("/api/v2/silences"), 401)
    viewer = mint(client, _tenant(), "viewer")
    is_problem(client.post("/api/v2/silences", headers=viewer, json=_v2([_m("a", "b")])), 403)


def test_bad_posts_are_400_with_the_reason_as_text(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    cases = [
        ({**_v2([_m("job", "a(", regex=True)])}, "matchers[0].value"),
        ({**_v2([_m("job", "x")], end=-timedelta(minutes=1))}, "endsAt"),
        ({k: v for k, v in _v2([_m("job", "x")]).items() if k != "endsAt"}, "endsAt"),
        (_v2([_m("job", ".*", regex=True)]), "matchers"),
        ({**_v2([_m("job", "x")]), "recurrence": {}}, "recurrence"),
    ]
    for body, field in cases:
        response = client.post("/api/v2/silences", headers=editor, json=body)
        assert response.status_code == 400, (body, response.text)
        assert isinstance(response.json(), str) and field in response.json(), response.json()
    bad_filter = client.get("/api/v2/silences", headers=editor, params={"filter": "job=~(("})
    assert bad_filter.status_code == 400 and isinstance(bad_filter.json(), str)


def test_status_and_receivers(client: TestClient, tmp_path: Path) -> None:
    editor = mint(client, _tenant(), "editor")
    client.post(
        "/cep/channels",
        headers=editor,
        json={"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}},
    )
    client.post(
        "/cep/inhibit-rules",
        headers=editor,
        json={"source_matchers": ["severity=critical"], "target_matchers": ['severity=~"high|low"'], "equal": ["host"]},
    )
    assert client.get("/api/v2/receivers", headers=editor).json() == [{"name": "ops-hook"}]
    status = client.get("/api/v2/status", headers=editor).json()
    assert set(status) == {"cluster", "versionInfo", "config", "uptime"}
    assert SEMVER.match(status["versionInfo"]["version"])
    assert all(
        status["versionInfo"][key] is not None for key in ("revision", "branch", "buildUser", "buildDate", "goVersion")
    )
    assert status["cluster"]["status"] == "disabled" and datetime.fromisoformat(status["uptime"]) <= datetime.now(UTC)
    config = yaml.safe_load(status["config"]["original"])
    assert config["inhibit_rules"] == [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"high|low"'], "equal": ["host"]}
    ]
    if missing_binaries() is None:  # Alertmanager's own checker accepts the configuration
        path = tmp_path / "am.yml"
        path.write_text(status["config"]["original"])
        checked = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def real_alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    if missing_binaries() is not None:
        pytest.skip(str(missing_binaries()))
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    server = start_alertmanager(tmp_path_factory.mktemp("am"), config)
    yield server
    server.stop()


def test_filters_and_order_match_the_real_alertmanager(client: TestClient, real_alertmanager: Alertmanager) -> None:
    editor = mint(client, _tenant(), "editor")
    suite = uuid.uuid4().hex[:8]  # the oracle is shared: keep to this test's silences
    bodies = [
        _v2([_m("suite", suite), _m("team", "db")], end=timedelta(hours=3)),
        _v2([_m("suite", suite), _m("team", "web"), _m("env", "prod")], end=timedelta(hours=1)),
        _v2([_m("suite", suite), _m("team", "d.*", regex=True)], start=timedelta(hours=1), end=timedelta(hours=2)),
        _v2([_m("suite", suite), _m("env", "dev", equal=False)], end=timedelta(hours=2)),
    ]
    ours, theirs = {}, {}
    for index, body in enumerate(bodies):
        ours[client.post("/api/v2/silences", headers=editor, json=body).json()["silenceID"]] = index
        theirs[real_alertmanager.post_silence(body).json()["silenceID"]] = index
    expired_ours = next(k for k, v in ours.items() if v == 3)
    client.delete(f"/api/v2/silence/{expired_ours}", headers=editor)
    real_alertmanager.expire(next(k for k, v in theirs.items() if v == 3))
    for filters in ([], ["team=db"], ["team=~d.*"], ["team!=db"], ["env="], ["env!="], ['team=~"w.*"', "env=prod"]):
        params = [("filter", f"suite={suite}"), *(("filter", f) for f in filters)]
        mine = client.get("/api/v2/silences", headers=editor, params=params).json()
        real = real_alertmanager.client.get("/api/v2/silences", params=params).json()
        assert [(ours[s["id"]], s["status"]["state"]) for s in mine] == [
            (theirs[s["id"]], s["status"]["state"]) for s in real
        ], filters


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveGateway]:
    gateway = start_gateway(tmp_path)
    yield gateway
    gateway.stop()


@needs_amtool
def test_amtool_adds_queries_and_expires_silences(live: LiveGateway, tmp_path: Path) -> None:
    import httpx

    tenant, other = _tenant(), _tenant()
    headers = live.token(tenant, "editor", name="oncall")
    token = headers["Authorization"].removeprefix("Bearer ")
    config = tmp_path / "http.yml"
    config.write_text(yaml.safe_dump({"authorization": {"type": "Bearer", "credentials": token}}))

    def amtool(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [AMTOOL, f"--alertmanager.url={live.url}", f"--http.config.file={config}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    added = amtool("silence", "add", "alertname=cpu_high", 'host=~"gt-.*"', "--comment=patching", "--duration=2h")
    assert added.returncode == 0, added.stderr
    sid = added.stdout.strip()
    assert uuid.UUID(sid)
    rest = httpx.get(f"{live.url}/cep/silences/{sid}", headers=headers).json()
    assert rest["state"] == "active" and rest["comment"] == "patching" and rest["created_by"]
    assert rest["matchers"] == [
        {"name": "alertname", "type": "=", "value": "cpu_high"},
        {"name": "host", "type": "=~", "value": "gt-.*"},
    ]

    query = amtool("silence", "query")
    assert query.returncode == 0 and sid in query.stdout and "patching" in query.stdout, query.stdout + query.stderr
    assert amtool("silence", "query", "-q", "alertname=cpu_high").stdout.split() == [sid]
    assert amtool("silence", "query", "-q", "alertname=other").stdout.split() == []
    as_json = json.loads(amtool("silence", "query", "-o", "json").stdout)
    assert [s["id"] for s in as_json] == [sid] and as_json[0]["status"]["state"] == "active"

    expired = amtool("silence", "expire", sid)
    assert expired.returncode == 0, expired.stderr
    assert httpx.get(f"{live.url}/cep/silences/{sid}", headers=headers).json()["state"] == "expired"
    assert amtool("silence", "query", "-q").stdout.split() == []  # amtool hides expired silences
    assert amtool("silence", "query", "-q", "--expired").stdout.split() == [sid]

    refused = amtool("silence", "add", 'job=~".*"', "--comment=x")  # it would mute everything: our 400 text
    assert refused.returncode != 0 and "must not match the empty string" in refused.stderr, refused
    # Another tenant's token sees none of it and cannot expire it.
    config.write_text(
        yaml.safe_dump({"authorization": {"type": "Bearer", "credentials": live.token(other)["Authorization"][7:]}})
    )
    assert amtool("silence", "query", "-q", "--expired").stdout.split() == []
    assert amtool("silence", "expire", sid).returncode != 0
