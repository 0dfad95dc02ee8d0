"""The Dockerfile: hadolint finds nothing, the build is multi-stage, the runtime is non-root, the command real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.deploy.manifests import ROOT, service_command_problem

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments left out."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_multi_stage_build_whose_runtime_is_non_root_and_runs_a_service() -> None:
    steps = instructions()
    stages = [args for kind, args in steps if kind == "FROM"]
    assert len(stages) >= 2 and stages[-1].endswith("AS runtime")
    runtime = steps[max(i for i, (kind, _) in enumerate(steps) if kind == "FROM") :]
    assert any(kind == "COPY" and args.startswith("--from=build") for kind, args in runtime)
    [user] = [args for kind, args in runtime if kind == "USER"]
    assert int(user.split(":")[0]) >= 1000  # numeric, so Kubernetes' runAsNonRoot can verify it
    [cmd] = [args for kind, args in runtime if kind == "CMD"]
    assert service_command_problem(json.loads(cmd)) is None  # the exec form


def test_the_image_context_holds_only_what_the_build_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored and {"!pyproject.toml", "!README.md", "!services/"} <= set(ignored)
    copied = {
        arg for kind, args in instructions() if kind == "COPY" and "--from" not in args for arg in args.split()[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "services"}
