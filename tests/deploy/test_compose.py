"""compose.yaml: valid against the Compose specification, and every service started, checked and ordered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import ROOT, known_variables, service_command_problem

COMPOSE = ROOT / "compose.yaml"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_validates_against_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_healthcheck_and_waits_for_what_it_needs() -> None:
    services = compose()["services"]
    assert {"nats", "postgres", "ray-head", "ingest", "evaluator", "notifier", "scheduler", "gateway"} <= set(services)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services and condition == {"condition": "service_healthy"}, (name, needed)
    assert set(services["gateway"]["depends_on"]) == {"nats", "postgres"}  # the SQL writer waits for the database
    assert set(services["evaluator"]["depends_on"]) == {"nats", "ray-head"}
    assert services["evaluator"]["environment"]["RAY_ADDRESS"] == "ray-head:6379"


def test_every_command_of_the_image_starts_a_real_service_or_ray() -> None:
    for name, service in compose()["services"].items():
        if service.get("image", "").startswith("cep-platform"):
            assert service_command_problem(service["command"]) is None, name


def test_compose_sets_only_variables_some_service_reads() -> None:
    names = {key for s in compose()["services"].values() for key in (s.get("environment") or {})}
    cep = {name for name in names if name.startswith("CEP_")}
    assert cep and cep <= known_variables()
    assert {name for name in names - cep if not name.startswith(("POSTGRES_", "RAY_"))} == set()


def test_only_the_gateway_and_the_notifier_get_the_channel_secrets_key() -> None:
    holders = {n for n, s in compose()["services"].items() if "CEP_SECRETS_KEY" in (s.get("environment") or {})}
    assert holders == {"gateway", "notifier"}  # they seal and open channel secrets; no key, no start
