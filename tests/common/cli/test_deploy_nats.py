"""The NATS config compose runs, and `cep nats-keys` that fills its secrets: the real nats-server accepts it.

The Kubernetes config (a three-server cluster) is run for real in tests/deploy/test_nats_cluster.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nkeys
import yaml

from services.common.cli.natskeys import generate

ROOT = Path(__file__).resolve().parents[3]
NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


def compose_config(env: dict[str, str]) -> str:
    content = str(yaml.safe_load((ROOT / "compose.yaml").read_text())["configs"]["nats-conf"]["content"])
    # compose's interpolation: `${VAR}` and `${VAR:?message}` from the environment, `$$` a literal `$`
    return re.sub(r"\$\$|\$\{(\w+)(:\?[^}]*)?\}", lambda m: "$" if m.group(0) == "$$" else env[m.group(1)], content)


def test_cep_nats_keys_prints_a_matching_set() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.common.cli", "nats-keys"], capture_output=True, text=True, check=True
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert set(values) == {"CEP_NATS_PASSWORD", "CEP_NATS_AUTH_ISSUER", "CEP_NATS_AUTH_ISSUER_SEED"}
    public = bytes(nkeys.from_seed(values["CEP_NATS_AUTH_ISSUER_SEED"].encode()).public_key).decode()
    assert public == values["CEP_NATS_AUTH_ISSUER"] and re.fullmatch(r"[0-9a-f]{48}", values["CEP_NATS_PASSWORD"])


def test_compose_nats_config_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "nats.conf"
    path.write_text(compose_config(generate().env()).replace('"/data"', f'"{tmp_path / "js"}"'))
    checked = subprocess.run([NATS_SERVER, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
