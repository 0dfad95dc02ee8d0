"""`cep events|rules|channels` against a real gateway on a loopback port, as an operator runs them.

Each test runs once in this process (`make test`: the same parser and code, no interpreter start per command) and
once with every command as its own process (`make test-slow`); `test_the_cli_as_its_own_process` keeps a few
subprocess runs in `make test`. Events are recorded by the gateway's real recorder from alerts published on
JetStream as the evaluator publishes them; channel tests go through the real notifier to a real local HTTP receiver.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from services.common.cli import rules
from services.common.cli.gateway_client import CliError, Gateway, Target
from services.common.domain.rules.model import Severity
from tests.common.cli.cep_process import Cep, cep, cep_in_process, cep_json, operator
from tests.gateway.conftest import CPU_RULE
from tests.gateway.live_gateway import Episode, LiveGateway
from tests.notifier.running import running_notifier
from tests.support.nats import NatsServer
from tests.support.receiver import receiver
from tests.ui.recorded import publish, wait_listed


@pytest.fixture(params=["in_process", pytest.param("subprocess", marks=pytest.mark.slow)])
def run(request: pytest.FixtureRequest) -> Cep:
    """How a test runs `cep`: in this process, or as its own process."""
    return cep_in_process if request.param == "in_process" else cep


def test_events_are_listed_shown_acked_and_labelled(gateway: LiveGateway, nats_server: NatsServer, run: Cep) -> None:
    env, api = operator(gateway)
    rule = api.post("/cep/rules", json=CPU_RULE).json()
    episodes = [Episode(api.get("/cep/auth/whoami").json()["tenant"], rule["rule_id"], group_key=h) for h in "ab"]
    publish(nats_server.url, [e.transition("fired") for e in episodes])
    wait_listed(api, 2)
    first, second = (e.event_id for e in episodes)

    listed = run(env, "events", "list", "--rule", rule["rule_id"])
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["EVENT_ID", "STATUS", "SEVERITY", "RULE", "FIRED", "COUNT", "SUMMARY"]
    assert {row.split()[0] for row in rows} == {first, second} and all(" open " in row for row in rows)

    page = cep_json(run, env, "events", "list", "--limit", "1")  # exactly the API's list body, cursor and all
    assert page == api.get("/cep/events", params={"limit": 1}).json() and page["next_cursor"]
    merged = cep_json(run, env, "events", "list", "--limit", "1", "--all")
    assert sorted(e["event_id"] for e in merged["items"]) == sorted([first, second])
    assert merged["total"] == 2 and merged["next_cursor"] is None

    acked = run(env, "events", "ack", first, "--note", "on it")
    assert acked.returncode == 0, acked.stderr
    assert "status:" in acked.stdout and "acked" in acked.stdout and "on it" in acked.stdout
    event = api.get(f"/cep/events/{first}").json()
    assert event["status"] == "acked" and event["history"][-1]["note"] == "on it"

    labelled = cep_json(run, env, "events", "feedback", first, "--label", "false_positive", "--note", "maintenance")
    assert labelled["feedback"]["label"] == "false_positive"
    assert api.get(f"/cep/events/{first}").json()["feedback"]["label"] == "false_positive"
    assert cep_json(run, env, "events", "show", second) == api.get(f"/cep/events/{second}").json()
    assert [e["event_id"] for e in cep_json(run, env, "events", "list", "--status", "acked")["items"]] == [first]

    stranger, _ = operator(gateway)  # another tenant's event id is a 404, as any unknown id
    hidden = run(stranger, "events", "show", first)
    assert hidden.returncode == 1 and hidden.stdout == ""
    assert hidden.stderr.startswith("cep events show: 404 Not Found") and first not in hidden.stdout


def test_rules_are_listed_shown_simulated_and_switched(gateway: LiveGateway, tmp_path: Path, run: Cep) -> None:
    env, api = operator(gateway)
    admin = gateway.token(api.get("/cep/auth/whoami").json()["tenant"], "admin")
    api.put("/cep/settings", headers=admin, json={"policies": {"min_simulations_before_activation": 1}})
    cpu = api.post("/cep/rules", json={**CPU_RULE, "active": False}).json()
    api.post("/cep/rules", json={**CPU_RULE, "name": "error_burst", "description": "errors", "active": False})

    listed = run(env, "rules", "list", "-q", "cpu")
    assert listed.returncode == 0 and "cpu_high_alert" in listed.stdout and "error_burst" not in listed.stdout
    assert cep_json(run, env, "rules", "show", "cpu_high_alert") == api.get(f"/cep/rules/{cpu['rule_id']}").json()

    refused = run(env, "rules", "activate", cpu["rule_id"])  # the team policy's 409, explained
    assert refused.returncode == 1
    assert "409 Conflict: min_simulations_before_activation: 0 of 1" in refused.stderr

    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"cpu_usage": 50}))
    calm = cep_json(run, env, "rules", "simulate", "cpu_high_alert", "--payload", f"@{payload}")
    assert calm["matched"] is False and calm["conditions"]
    hot = run(env, "rules", "simulate", cpu["rule_id"], "--payload", '{"cpu_usage": 92, "host": "gt-01"}')
    assert hot.returncode == 0 and hot.stdout.startswith("matched: yes") and "cpu_usage" in hot.stdout

    activated = cep_json(run, env, "rules", "activate", "cpu_high_alert")
    assert activated["active"] is True and activated["version"] == cpu["version"] + 1
    assert [r["name"] for r in cep_json(run, env, "rules", "list", "--active")["items"]] == ["cpu_high_alert"]
    deactivated = run(env, "rules", "deactivate", cpu["rule_id"])
    assert deactivated.returncode == 0 and "active:" in deactivated.stdout
    assert api.get(f"/cep/rules/{cpu['rule_id']}").json()["active"] is False


def test_channels_are_listed_and_tested_through_the_notifier(gateway: LiveGateway, run: Cep) -> None:
    env, api = operator(gateway)
    with running_notifier(), receiver() as good, receiver(answer=lambda n: 401) as refusing:
        api.post("/cep/channels", json={"name": "ops-hook", "type": "webhook", "config": {"url": good.url}})
        api.post("/cep/channels", json={"name": "locked", "type": "webhook", "config": {"url": refusing.url}})

        listed = run(env, "channels", "list")
        assert listed.returncode == 0 and good.url in listed.stdout and "locked" in listed.stdout
        assert cep_json(run, env, "channels", "list") == api.get("/cep/channels").json()

        passed = run(env, "channels", "test", "ops-hook")
        assert passed.returncode == 0, passed.stderr
        assert "ok:" in passed.stdout and "200" in passed.stdout
        assert good.requests[0].json()["status"] == "test"

        failed = run(env, "channels", "test", "locked", "-o", "json")  # ok:false is a non-zero exit
        assert failed.returncode == 1 and "failed" in failed.stderr
        assert json.loads(failed.stdout)["error"]["kind"] == "auth" and len(refusing.requests) == 1


def test_exit_codes_and_where_the_url_and_token_come_from(gateway: LiveGateway, tmp_path: Path, run: Cep) -> None:
    env, _ = operator(gateway)
    viewer, _ = operator(gateway, role="viewer")
    assert "exit codes: 0 success" in run({}, "--help").stdout

    usage = run(env, "events", "list", "--status", "sleeping")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    assert run(env, "rules", "simulate", "x", "--payload", "{not json").returncode == 2
    missing = run({"CEP_URL": gateway.url}, "rules", "list")  # no token anywhere
    assert missing.returncode == 2 and "an API token is needed" in missing.stderr

    invalid = run(env, "events", "list", "--since", "yesterday-ish")  # the API's 422 names the field
    assert invalid.returncode == 1 and "422" in invalid.stderr and "since" in invalid.stderr

    unreachable = run({**env, "CEP_URL": "http://127.0.0.1:9"}, "channels", "list")
    assert unreachable.returncode == 3 and "cannot reach the gateway" in unreachable.stderr
    assert run({**env, "CEP_TOKEN": "not-a-token"}, "events", "list").returncode == 4
    forbidden = run(viewer, "events", "ack", "any-event")  # a viewer may read, not acknowledge
    assert forbidden.returncode == 4 and "403" in forbidden.stderr

    with receiver() as stranger:  # a real HTTP server that is not a gateway: no traceback, exit 1
        elsewhere = {**env, "CEP_URL": stranger.url.removesuffix("/hook")}
        for other in (run(elsewhere, "channels", "test", "x"), run(elsewhere, "events", "list")):
            assert other.returncode == 1 and "not the CEP API's" in other.stderr and other.stdout == ""

    config = tmp_path / "config.toml"
    config.write_text(f'url = "{gateway.url}"\ntoken = "{env["CEP_TOKEN"]}"\n')
    assert run({"CEP_CONFIG": str(config)}, "rules", "list").returncode == 0  # the file alone is enough
    assert run({"CEP_CONFIG": str(config), "CEP_TOKEN": "not-a-token"}, "rules", "list").returncode == 4
    config.write_text(f'url = "http://127.0.0.1:9"\ntoken = "{env["CEP_TOKEN"]}"\n')
    assert run({"CEP_CONFIG": str(config), "CEP_URL": gateway.url}, "rules", "list").returncode == 0
    config.write_text("url = [")
    broken = run({"CEP_CONFIG": str(config)}, "rules", "list")
    assert broken.returncode == 2 and "cannot read the config file" in broken.stderr


def test_the_severity_choices_are_the_rule_models() -> None:
    from services.common.cli.events import SEVERITIES

    assert set(SEVERITIES) == set(Severity.__args__)  # type: ignore[attr-defined]


def test_the_cli_as_its_own_process(gateway: LiveGateway, tmp_path: Path) -> None:
    """What only a real process shows: the entry point, PYTHONPATH inherited, stdout holding nothing but JSON."""
    env, api = operator(gateway)
    api.post("/cep/rules", json=CPU_RULE)
    assert [r["name"] for r in cep_json(cep, env, "rules", "list")["items"]] == ["cpu_high_alert"]
    config = tmp_path / "config.toml"
    token = env["CEP_TOKEN"]
    config.write_text(f'url = "http://127.0.0.1:9"\ntoken = "{token}"\n')
    table = cep({"CEP_CONFIG": str(config), "CEP_URL": gateway.url}, "rules", "list")
    assert table.returncode == 0 and table.stdout.startswith("RULE_ID") and "cpu_high_alert" in table.stdout
    missing = cep(env, "events", "show", "no-such-event")
    assert missing.returncode == 1 and missing.stderr.startswith("cep events show: 404 Not Found")


def test_a_stale_activation_says_the_rule_changed_since_it_was_read(gateway: LiveGateway) -> None:
    env, api = operator(gateway)
    rule = api.post("/cep/rules", json={**CPU_RULE, "active": False}).json()
    with Gateway(Target(env["CEP_URL"], env["CEP_TOKEN"])) as client:
        read = rules.find_rule(client, "cpu_high_alert")
        api.patch(f"/cep/rules/{rule['rule_id']}", json={"description": "edited meanwhile"})  # someone else's edit
        with pytest.raises(CliError, match="the rule changed after it was read \\(version 1\\)") as refused:
            rules.activate_from(client, read, True, io.StringIO())
    assert refused.value.code == 1 and "409 Conflict: version 1 is stale" in str(refused.value)
    assert api.get(f"/cep/rules/{rule['rule_id']}").json()["active"] is False
