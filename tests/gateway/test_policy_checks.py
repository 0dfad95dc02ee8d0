"""Team policies enforced on activation: a 409 problem naming the policy, through every route that activates."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.gateway.conftest import CPU_RULE, create_rule, is_problem, mint
from tests.notifier.running import RunningNotifier, running_notifier
from tests.support.receiver import receiver

PAYLOAD = {"payload": {"cpu_usage": 92}}


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _policies(client: TestClient, tenant: str, **policies: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Set the tenant's policies as its admin; return (editor, admin) headers."""
    admin = mint(client, tenant, "admin")
    response = client.put("/cep/settings", headers=admin, json={"policies": policies})
    assert response.status_code == 200, response.text
    return mint(client, tenant, "editor"), admin


def _refused(response: Any, policy: str) -> dict[str, Any]:
    problem = is_problem(response, 409)
    assert problem["policy"] == policy, problem
    assert problem["type"] == "urn:cep:problem:policy-violation"
    assert policy in {v["policy"] for v in problem["violations"]}
    return problem


def test_activation_needs_n_simulations_of_the_rule_as_it_is(any_client: TestClient) -> None:
    editor, _ = _policies(any_client, _tenant(), min_simulations_before_activation=3)
    rule = create_rule(any_client, editor)  # inactive: no policy applies
    url = f"/cep/rules/{rule['rule_id']}"
    _refused(
        any_client.post("/cep/rules", headers=editor, json={**CPU_RULE, "name": "b", "active": True}),
        "min_simulations_before_activation",
    )
    problem = _refused(
        any_client.patch(url, headers=editor, json={"active": True}), "min_simulations_before_activation"
    )
    assert problem["detail"].startswith("min_simulations_before_activation: 0 of 3 simulations")
    for _ in range(2):
        assert any_client.post(f"{url}/simulate", headers=editor, json=PAYLOAD).status_code == 200
    problem = _refused(
        any_client.patch(url, headers=editor, json={"active": True}), "min_simulations_before_activation"
    )
    assert "2 of 3 simulations" in problem["detail"]

    # a change of what runs makes earlier simulations count no more; a description does not
    any_client.patch(url, headers=editor, json={"trigger_spec": {"threshold": 90}})
    any_client.post(f"{url}/simulate", headers=editor, json=PAYLOAD)
    stats = any_client.get(f"{url}/simulations", headers=editor).json()
    assert stats["count"] == 3 and stats["since_last_change"] == 1
    any_client.patch(url, headers=editor, json={"description": "CPU > 90 for 5m"})
    for _ in range(2):
        any_client.post(f"{url}/simulate", headers=editor, json=PAYLOAD)
    activated = any_client.patch(url, headers=editor, json={"active": True})
    assert activated.status_code == 200 and activated.json()["active"] is True, activated.text
    # editing the runbook of an active rule is no new activation
    assert any_client.patch(url, headers=editor, json={"runbook": "restart the agent"}).status_code == 200
    # but changing its threshold is: simulate again first
    _refused(
        any_client.patch(url, headers=editor, json={"trigger_spec": {"threshold": 95}}),
        "min_simulations_before_activation",
    )
    assert any_client.get(url, headers=editor).json()["trigger_spec"]["threshold"] == 90


def test_p1_rules_need_an_owner_and_a_backup_owner_on_every_route(client: TestClient) -> None:
    editor, _ = _policies(client, _tenant(), p1_requires_owner_and_backup=True)
    p1 = {**CPU_RULE, "active": True, "priority": "P1", "owner": "sre-team"}
    problem = _refused(client.post("/cep/rules", headers=editor, json=p1), "p1_requires_owner_and_backup")
    assert problem["violations"] == [
        {"policy": "p1_requires_owner_and_backup", "detail": "a P1 rule needs backup_owner"}
    ]
    form = {
        "name": "f",
        "trigger_type": "metric",
        "active": "true",
        "priority": "P1",
        "trigger": {"metric_name": "cpu", "operator": ">", "threshold": "90"},
    }
    _refused(client.post("/cep/rules/form", headers=editor, json=form), "p1_requires_owner_and_backup")
    rule = create_rule(client, editor, priority="P1")
    _refused(client.put(f"/cep/rules/{rule['rule_id']}", headers=editor, json=p1), "p1_requires_owner_and_backup")
    assert create_rule(client, editor, name="p2", active=True)["active"] is True  # P2: the policy does not apply
    ok = client.put(f"/cep/rules/{rule['rule_id']}", headers=editor, json={**p1, "backup_owner": "bob"})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    # the owner cannot be dropped from an active P1 rule
    _refused(
        client.patch(f"/cep/rules/{rule['rule_id']}", headers=editor, json={"backup_owner": None}),
        "p1_requires_owner_and_backup",
    )
    form_ok = client.post("/cep/rules/form", headers=editor, json={**form, "owner": "a", "backup_owner": "b"})
    assert form_ok.status_code == 201, form_ok.text


def test_every_violated_policy_is_listed(client: TestClient) -> None:
    editor, _ = _policies(
        client,
        _tenant(),
        min_simulations_before_activation=1,
        p1_requires_owner_and_backup=True,
        require_channel_test=True,
    )
    body = {**CPU_RULE, "active": True, "priority": "P1"}
    problem = _refused(client.post("/cep/rules", headers=editor, json=body), "min_simulations_before_activation")
    assert [v["policy"] for v in problem["violations"]] == [
        "min_simulations_before_activation",
        "require_channel_test",
        "p1_requires_owner_and_backup",
    ]
    assert problem["violations"][1]["detail"] == "channel 'slack-ops' does not exist"


@pytest.fixture
def notifier() -> Iterator[RunningNotifier]:
    with running_notifier() as running:
        yield running


def test_activation_needs_a_passing_test_of_every_channel_it_uses(
    client: TestClient, notifier: RunningNotifier
) -> None:
    editor, _ = _policies(client, _tenant(), require_channel_test=True)
    rule = create_rule(client, editor, action_spec=[{"type": "webhook", "channel": "ops-hook"}])
    url = f"/cep/rules/{rule['rule_id']}"
    with receiver() as good, receiver(answer=lambda n: 401) as bad:
        hook = {"name": "ops-hook", "type": "webhook", "config": {"url": bad.url}}
        channel = client.post("/cep/channels", headers=editor, json=hook).json()
        problem = _refused(client.patch(url, headers=editor, json={"active": True}), "require_channel_test")
        assert "channel 'ops-hook' was never tested" in problem["detail"]

        assert client.post("/cep/channels/test", headers=editor, json={"channel": "ops-hook"}).json()["ok"] is False
        problem = _refused(client.patch(url, headers=editor, json={"active": True}), "require_channel_test")
        assert "the last test of channel 'ops-hook' failed" in problem["detail"]

        client.put(f"/cep/channels/{channel['channel_id']}", headers=editor, json={**hook, "config": {"url": good.url}})
        assert client.post("/cep/channels/test", headers=editor, json={"channel": "ops-hook"}).json()["ok"] is True
        activated = client.patch(url, headers=editor, json={"active": True})
        assert activated.status_code == 200, activated.text

        # a channel changed after its test must be tested again before another rule goes live on it
        client.put(
            f"/cep/channels/{channel['channel_id']}", headers=editor, json={**hook, "config": {"url": good.url + "/v2"}}
        )
        other = {
            **CPU_RULE,
            "name": "other",
            "active": True,
            "action_spec": [{"type": "webhook", "channel": channel["channel_id"]}],
        }
        problem = _refused(client.post("/cep/rules", headers=editor, json=other), "require_channel_test")
        assert "changed after its last passing test" in problem["detail"]


def test_a_new_anomaly_rule_cannot_go_live_before_its_baseline(client: TestClient) -> None:
    editor, _ = _policies(client, _tenant(), anomaly_requires_ready_baseline=True)
    anomaly = {
        "name": "latency_anomaly",
        "active": True,
        "trigger_type": "anomaly",
        "trigger_spec": {"value_path": "latency_ms", "anomaly_method": "zscore", "threshold": 3},
    }
    problem = _refused(client.post("/cep/rules", headers=editor, json=anomaly), "anomaly_requires_ready_baseline")
    assert "no baseline yet" in problem["detail"]
    assert create_rule(client, editor, name="cpu", active=True)["active"] is True  # other trigger types: no check
    # a stored draft is asked about: with no evaluator to answer, the baseline is not confirmed
    draft = client.post("/cep/rules", headers=editor, json={**anomaly, "active": False}).json()
    problem = _refused(
        client.patch(f"/cep/rules/{draft['rule_id']}", headers=editor, json={"active": True}),
        "anomaly_requires_ready_baseline",
    )
    assert problem["detail"].startswith("anomaly_requires_ready_baseline: the baseline could not be checked")


def test_without_policies_nothing_is_checked(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    assert create_rule(client, editor, active=True, priority="P1")["active"] is True
