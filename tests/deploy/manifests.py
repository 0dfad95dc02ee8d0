"""Offline checks of the deployment files: the kustomizations built, every resource validated, house rules held.

`python -m tests.deploy.manifests k8s/base k8s/overlays/example` (run by `make deploy-check`) builds each
kustomization with `kubectl kustomize` (kubectl ships kustomize), validates every resource against the strict
Kubernetes schemas of kubernetes-validate, and the RayCluster against k8s/schemas/raycluster-ray-v1.json (whose
pod templates are Kubernetes' own PodTemplateSpec), then checks what the schemas cannot: probes and resource
requests on every container, autoscalers and disruption budgets aimed at real workloads, commands that name
real service modules, and CEP_* variables that some service reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"
SCHEMAS = {("ray.io/v1", "RayCluster"): ROOT / "k8s" / "schemas" / "raycluster-ray-v1.json"}
# CEP_* names that are no settings field: the NATS config's own (nats.conf reads them), and the stream replicas
# read where streams are declared (services/common/nats/streams.py).
NOT_SETTINGS = {"CEP_NATS_PASSWORD", "CEP_NATS_AUTH_ISSUER", "CEP_JETSTREAM_REPLICAS"}
WORKLOADS = ("Deployment", "StatefulSet")
Manifest = dict[str, Any]


def build(kustomization: Path) -> list[Manifest]:
    """The resources of a kustomization, as `kubectl kustomize` renders them."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise FileNotFoundError("kubectl (which ships kustomize) is not installed")
    out = subprocess.run([kubectl, "kustomize", str(kustomization)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def schema_errors(resource: Manifest) -> list[str]:
    """What the strict schema of the resource's kind refuses (a custom resource: its vendored schema)."""
    custom = SCHEMAS.get((resource.get("apiVersion", ""), resource.get("kind", "")))
    try:
        if custom is None:
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
            return []
        validator = jsonschema.Draft202012Validator(json.loads(custom.read_text()), registry=_registry())
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {resource.get('apiVersion')} {resource.get('kind')}"]


@cache
def _registry() -> Registry:
    """Kubernetes' definitions, where the vendored schemas' `$ref`s point."""
    version = [v for v in kv_utils.all_versions() if v <= kv_utils.major_minor(K8S_VERSION)][-1]
    definitions = kv_utils.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    return Resource.from_contents(definitions) @ Registry()  # type: ignore[no-any-return]


def rule_errors(resources: list[Manifest]) -> list[str]:
    """The house rules, over a whole built kustomization."""
    errors: list[str] = []
    workloads = {(r["kind"], r["metadata"]["name"]): r for r in resources if r["kind"] in WORKLOADS}
    for (kind, name), workload in workloads.items():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            where = f"{kind}/{name} container {container['name']}"
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    errors.append(f"{where}: no {probe}")
            if not container.get("resources", {}).get("requests"):
                errors.append(f"{where}: no resource requests")
    for ray in (r for r in resources if r["kind"] == "RayCluster"):
        for container in pod_containers(ray):
            if not container.get("resources", {}).get("requests"):
                errors.append(f"RayCluster/{ray['metadata']['name']} container {container['name']}: no requests")
    for hpa in (r for r in resources if r["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) not in workloads:
            errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: no {target['kind']}/{target['name']}")
    labels = [pod_labels(r) for r in resources if r["kind"] in (*WORKLOADS, "RayCluster")]
    for pdb in (r for r in resources if r["kind"] == "PodDisruptionBudget"):
        wanted = pdb["spec"]["selector"]["matchLabels"].items()
        if not any(wanted <= pod.items() for group in labels for pod in group):
            errors.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: selects no pods")
    errors += [f"{where}: {problem}" for where, problem in command_errors(resources)]
    errors += [f"unknown variable {name}" for name in sorted(set(variables(resources)) - known_variables())]
    return errors


def pod_containers(resource: Manifest) -> Iterator[Manifest]:
    """Every container of a workload or of a RayCluster's head and worker groups."""
    if resource["kind"] == "RayCluster":
        groups = [resource["spec"]["headGroupSpec"], *resource["spec"].get("workerGroupSpecs", [])]
        for group in groups:
            yield from group["template"]["spec"]["containers"]
    elif resource["kind"] in WORKLOADS:
        yield from resource["spec"]["template"]["spec"]["containers"]


def pod_labels(resource: Manifest) -> list[dict[str, str]]:
    if resource["kind"] == "RayCluster":
        groups = [resource["spec"]["headGroupSpec"], *resource["spec"].get("workerGroupSpecs", [])]
        return [g["template"].get("metadata", {}).get("labels", {}) for g in groups]
    return [resource["spec"]["template"]["metadata"].get("labels", {})]


def command_errors(resources: Iterable[Manifest]) -> Iterator[tuple[str, str]]:
    """Commands of the project's image must start a real service module (or Ray itself)."""
    for resource in resources:
        for container in pod_containers(resource):
            if "cep-platform" not in container["image"] or "command" not in container:
                continue
            where = f"{resource['kind']}/{resource['metadata']['name']}"
            problem = service_command_problem(container["command"])
            if problem:
                yield where, problem


def service_command_problem(command: list[str]) -> str | None:
    """None when `command` runs `python -m services.<name>` of a service that exists (possibly after `sh -c`)."""
    text = " ".join(command)
    modules = re.findall(r"python -m (services\.\w+)", text)
    if not modules:
        return None if re.match(r"^ray start ", text) else f"runs no service module: {text}"
    missing = [m for m in modules if not (ROOT / m.replace(".", "/") / "__main__.py").is_file()]
    return f"no such service module: {missing}" if missing else None


def variables(resources: Iterable[Manifest]) -> Iterator[str]:
    """Every CEP_* name set by a ConfigMap, a Secret or a container's env."""
    for resource in resources:
        if resource["kind"] in ("ConfigMap", "Secret"):
            for key in {**resource.get("data", {}), **resource.get("stringData", {})}:
                if key.startswith("CEP_"):
                    yield key
        for container in pod_containers(resource):
            for entry in container.get("env", []):
                if entry["name"].startswith("CEP_"):
                    yield entry["name"]


@cache
def known_variables() -> frozenset[str]:
    """`CEP_<FIELD>` of every service's settings class, and the few names read elsewhere."""
    from services.evaluator.settings import EvaluatorSettings
    from services.gateway.settings import GatewaySettings
    from services.ingest.settings import IngestSettings
    from services.notifier.settings import NotifierSettings
    from services.scheduler.settings import SchedulerSettings

    names = set(NOT_SETTINGS)
    for settings in (EvaluatorSettings, GatewaySettings, IngestSettings, NotifierSettings, SchedulerSettings):
        names |= {f"CEP_{field.upper()}" for field in settings.model_fields}
    return frozenset(names)


def check(resources: list[Manifest]) -> list[str]:
    """Every problem of one built kustomization: schema errors per resource, then the house rules."""
    errors = [f"{r['kind']}/{r['metadata']['name']}: {e}" for r in resources for e in schema_errors(r)]
    return errors + rule_errors(resources)


def main(argv: list[str]) -> int:
    failed = False
    for path in argv or ["k8s/base", "k8s/overlays/example"]:
        resources = build(Path(path))
        errors = check(resources)
        print(f"{path}: {len(resources)} resources, {'ok' if not errors else f'{len(errors)} problem(s)'}")
        for error in errors:
            print(f"  {error}")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
