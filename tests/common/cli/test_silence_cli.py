"""`cep silence add|query|expire` against a real gateway on a loopback port, with amtool's matcher syntax.

The many calls run in this process (the same parser and code); `test_silence_commands_as_their_own_process` runs
each verb once as its own process, as an operator does.
"""

from __future__ import annotations

import pytest

from tests.common.cli.cep_process import Cep, cep, cep_in_process, cep_json, operator
from tests.gateway.live_gateway import LiveGateway


@pytest.fixture(params=["in_process", pytest.param("subprocess", marks=pytest.mark.slow)])
def run(request: pytest.FixtureRequest) -> Cep:
    return cep_in_process if request.param == "in_process" else cep


def test_add_query_and_expire(gateway: LiveGateway, run: Cep) -> None:
    env, api = operator(gateway)
    added = run(env, "silence", "add", "disk_full", 'host=~"db-.*"', "--comment", "disk swap", "--duration", "2h")
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    stored = api.get(f"/cep/silences/{silence_id}").json()
    assert stored["matchers"] == [
        {"name": "alertname", "type": "=", "value": "disk_full"},  # a bare first word is the alert's name
        {"name": "host", "type": "=~", "value": "db-.*"},
    ]
    assert stored["comment"] == "disk swap" and stored["state"] == "active"
    assert stored["created_by"] == api.get("/cep/auth/whoami").json()["name"]  # the token's name by default
    other = cep_json(run, env, "silence", "add", "team!=ops", "-c", "other", "--author", "alice", "--end",
                     "2099-01-01T00:00:00Z")  # fmt: skip
    assert other["created_by"] == "alice" and other["ends_at"].startswith("2099-01-01T00:00:00")

    listed = run(env, "silence", "query")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:2] == ["ID", "MATCHERS"]
    assert len(rows) == 2 and any(silence_id in row and 'host=~"db-.*"' in row for row in rows)
    only = run(env, "silence", "query", "-q", 'host=~"db-.*"')  # that very matcher, as amtool 0.25 filters
    assert only.stdout.split() == [silence_id]
    assert run(env, "silence", "query", "-q", "host=~db").stdout == ""
    body = cep_json(run, env, "silence", "query", "team!=ops")
    assert [s["silence_id"] for s in body["items"]] == [other["silence_id"]] and body["total"] == 1

    expired = run(env, "silence", "expire", silence_id)
    assert expired.returncode == 0 and expired.stdout == "", expired.stderr
    assert api.get(f"/cep/silences/{silence_id}").json()["state"] == "expired"
    assert run(env, "silence", "query", "-q").stdout.split() == [other["silence_id"]]
    assert run(env, "silence", "query", "-q", "--expired").stdout.split() == [silence_id]


def test_errors_and_exit_codes(gateway: LiveGateway, run: Cep) -> None:
    env, api = operator(gateway)
    bad = run(env, "silence", "add", 'host=~"db-("', "-c", "x")
    assert bad.returncode == 2 and "matcher" in bad.stderr and "Traceback" not in bad.stderr
    no_comment = run(env, "silence", "add", "disk_full")
    assert no_comment.returncode == 2 and "--comment" in no_comment.stderr
    past = run(env, "silence", "add", "disk_full", "-c", "x", "--end", "2001-01-01T00:00:00Z")
    assert past.returncode == 1 and "ends_at: must not be in the past" in past.stderr
    both = run(env, "silence", "add", "a=b", "-c", "x", "--duration", "1h", "--end", "2099-01-01T00:00:00Z")
    assert both.returncode == 2 and "not allowed with" in both.stderr

    mine = api.post("/cep/silences", json={"matchers": ["a=b"], "comment": "x", "duration": "1h"}).json()
    stranger, _ = operator(gateway)  # another tenant's silence is unknown: neither listed nor expired
    assert run(stranger, "silence", "query", "-q").stdout == ""
    refused = run(stranger, "silence", "expire", "no-such-id", mine["silence_id"])
    assert refused.returncode == 1 and refused.stderr.count("404 Not Found") == 2
    assert api.get(f"/cep/silences/{mine['silence_id']}").json()["state"] == "active"
    viewer, _ = operator(gateway, role="viewer")
    assert run(viewer, "silence", "add", "a=b", "-c", "x").returncode == 4


def test_silence_commands_as_their_own_process(gateway: LiveGateway) -> None:
    env, api = operator(gateway)
    added = cep(env, "silence", "add", "alertname=disk_full", "--comment", "from a shell")
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    assert cep(env, "silence", "query", "-q").stdout.split() == [silence_id]
    assert cep(env, "silence", "expire", silence_id).returncode == 0
    assert api.get(f"/cep/silences/{silence_id}").json()["state"] == "expired"
