"""The Kubernetes manifests: the base and the example overlay build, validate, and hold the house rules."""

from __future__ import annotations

import copy
import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import manifests
from tests.deploy.manifests import ROOT, rule_errors, schema_errors

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) is not installed")

BASE, OVERLAY = ROOT / "k8s" / "base", ROOT / "k8s" / "overlays" / "example"
SERVICES = ("ingest", "evaluator", "notifier", "scheduler", "gateway")


@functools.cache
def _built(kustomization: Path) -> list[dict[str, Any]]:
    return manifests.build(kustomization)


def build(kustomization: Path) -> list[dict[str, Any]]:
    """The built resources (one `kubectl kustomize` per kustomization and session), a copy each time."""
    return copy.deepcopy(_built(kustomization))


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.parametrize("kustomization", [BASE, OVERLAY], ids=["base", "overlay"])
def test_the_kustomization_builds_and_every_resource_validates(kustomization: Path) -> None:
    assert manifests.check(build(kustomization)) == []


def test_the_base_has_every_part_the_platform_needs() -> None:
    resources = build(BASE)
    deployments, services = by_kind(resources, "Deployment"), by_kind(resources, "Service")
    assert set(SERVICES) <= set(deployments) and set(SERVICES) <= set(services)
    [nats] = by_kind(resources, "StatefulSet").values()
    assert (
        nats["spec"]["replicas"] == 3
        and "cluster {" in by_kind(resources, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    )
    assert by_kind(resources, "ConfigMap")["cep-config"]["data"]["CEP_JETSTREAM_REPLICAS"] == "3"
    assert {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(resources, "HorizontalPodAutoscaler").values()} == {
        "ingest",
        "gateway",
    }
    assert {"nats", "ingest", "gateway", "notifier", "scheduler", "ray-workers"} <= set(
        by_kind(resources, "PodDisruptionBudget")
    )
    [ray] = by_kind(resources, "RayCluster").values()
    evaluator = deployments["evaluator"]
    assert evaluator["spec"]["strategy"]["type"] == "Recreate"  # never two drivers ticking at once
    env = {e["name"]: e.get("value") for e in evaluator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RAY_ADDRESS"] == f"{ray['metadata']['name']}-head-svc:6379"  # the head service KubeRay makes
    assert {"cep-secrets", "cep-nats-issuer"} <= set(by_kind(resources, "Secret"))


def test_the_overlay_moves_namespace_image_and_sizes() -> None:
    resources = build(OVERLAY)
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {"cep-example"}
    [ray] = by_kind(resources, "RayCluster").values()
    images = {c["image"] for r in resources for c in _containers(r) if "cep-platform" in c["image"]}
    assert images == {"registry.example.com/cep/cep-platform:0.1.0"}
    assert ray["spec"]["workerGroupSpecs"][0]["replicas"] == 4 and ray["spec"]["workerGroupSpecs"][0]["template"]
    assert by_kind(resources, "ConfigMap")["cep-config"]["data"]["CEP_SHARDS"] == "4"
    assert "postgres" in by_kind(resources, "StatefulSet")  # the reference database comes along


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    if resource["kind"] == "RayCluster":
        groups = [resource["spec"]["headGroupSpec"], *resource["spec"]["workerGroupSpecs"]]
        return [c for g in groups for c in g["template"]["spec"]["containers"]]
    if resource["kind"] in ("Deployment", "StatefulSet"):
        return list(resource["spec"]["template"]["spec"]["containers"])
    return []


def _named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return by_kind(resources, kind)[name]


Breakage = Callable[[list[dict[str, Any]]], None]
BREAKAGES: dict[str, tuple[Breakage, str]] = {
    "a probe missing": (
        lambda rs: _containers(_named(rs, "Deployment", "gateway"))[0].pop("livenessProbe"),
        "Deployment/gateway container gateway: no livenessProbe",
    ),
    "no resource requests": (
        lambda rs: _containers(_named(rs, "Deployment", "ingest"))[0].pop("resources"),
        "Deployment/ingest container ingest: no resource requests",
    ),
    "an autoscaler aimed at nothing": (
        lambda rs: _named(rs, "HorizontalPodAutoscaler", "gateway")["spec"]["scaleTargetRef"].update(name="gatewy"),
        "HorizontalPodAutoscaler/gateway: no Deployment/gatewy",
    ),
    "a budget selecting no pod": (
        lambda rs: _named(rs, "PodDisruptionBudget", "notifier")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "notifyer"}
        ),
        "PodDisruptionBudget/notifier: selects no pods",
    ),
    "a command naming no service": (
        lambda rs: _containers(_named(rs, "Deployment", "scheduler"))[0].update(
            command=["python", "-m", "services.sheduler"]
        ),
        "Deployment/scheduler: no such service module: ['services.sheduler']",
    ),
    "a variable no service reads": (
        lambda rs: _named(rs, "ConfigMap", "cep-config")["data"].update(CEP_SHARD="4"),
        "unknown variable CEP_SHARD",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_house_rules_catch_a_broken_manifest(breakage: str) -> None:
    resources = build(BASE)
    assert rule_errors(resources) == []
    breaking, expected = BREAKAGES[breakage]
    breaking(resources)
    assert rule_errors(resources) == [expected]


def test_the_raycluster_schema_refuses_what_kuberay_would() -> None:
    [ray] = by_kind(build(BASE), "RayCluster").values()
    assert schema_errors(ray) == []
    merged = copy.deepcopy(ray)  # what a strategic-merge patch of the worker list leaves: no pod template
    merged["spec"]["workerGroupSpecs"] = [{"groupName": "shards", "replicas": 4}]
    assert schema_errors(merged) == ["spec.workerGroupSpecs.0: 'template' is a required property"]
    typo = copy.deepcopy(ray)
    typo["spec"]["workerGroupSpec"] = typo["spec"].pop("workerGroupSpecs")
    assert any("workerGroupSpec" in error for error in schema_errors(typo))
    bad_pod = copy.deepcopy(ray)  # the pod templates are checked by Kubernetes' own PodTemplateSpec schema
    bad_pod["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    assert schema_errors(bad_pod)


def test_only_the_gateway_and_the_notifier_get_the_channel_secrets_key() -> None:
    resources = build(BASE)
    assert "CEP_SECRETS_KEY" in by_kind(resources, "Secret")["cep-channel-secrets"]["stringData"]
    assert all(
        "CEP_SECRETS_KEY" not in s.get("stringData", {})
        for s in by_kind(resources, "Secret").values()
        if s["metadata"]["name"] != "cep-channel-secrets"
    )
    holders = {
        name
        for name, deployment in by_kind(resources, "Deployment").items()
        for container in _containers(deployment)
        if any(ref.get("secretRef", {}).get("name") == "cep-channel-secrets" for ref in container.get("envFrom", []))
    }
    assert holders == {"gateway", "notifier"}
