"""The NATS config compose and Kubernetes run, and `cep nats-keys` that fills their secrets: the real nats-server
accepts the configs, admits the platform's user with the generated password and refuses anyone else."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
import yaml

from services.common.cli.natskeys import generate
from services.common.cli.procs import free_port

ROOT = Path(__file__).resolve().parents[3]
NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


def k8s_config() -> str:
    docs = list(yaml.safe_load_all((ROOT / "k8s" / "nats.yaml").read_text()))
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "nats-config"]
    return str(config_map["data"]["nats.conf"])


def compose_config(env: dict[str, str]) -> str:
    content = str(yaml.safe_load((ROOT / "compose.yaml").read_text())["configs"]["nats-conf"]["content"])
    return re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", lambda m: env[m.group(1)], content)  # compose's interpolation


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


def test_k8s_nats_config_admits_only_the_platform_user(tmp_path: Path) -> None:
    keys = generate()
    port, monitor = free_port(), free_port()
    text = k8s_config().replace('"/data"', f'"{tmp_path / "js"}"') + f"\nport: {port}\nhttp_port: {monitor}\n"
    path = tmp_path / "nats.conf"
    path.write_text(text)
    env = {**os.environ, "CEP_NATS_PASSWORD": keys.password, "CEP_NATS_AUTH_ISSUER": keys.issuer}
    proc = subprocess.Popen([NATS_SERVER, "-c", str(path)], env=env, stderr=subprocess.PIPE)
    try:
        asyncio.run(_check(port, keys.password))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _check(port: int, password: str) -> None:
    url = f"nats://127.0.0.1:{port}"
    client: Any = None
    for _ in range(50):  # the server is starting
        try:
            client = await nats.connect(f"nats://cep-internal:{password}@127.0.0.1:{port}", allow_reconnect=False)
            break
        except Exception:
            await asyncio.sleep(0.1)
    assert client is not None, "the platform user could not connect"
    await client.jetstream().add_stream(name="CHECK", subjects=["check.>"])
    await client.close()
    with pytest.raises(Exception, match=r"(?i)authoriz"):  # no callout answers here: the server refuses
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=10)
