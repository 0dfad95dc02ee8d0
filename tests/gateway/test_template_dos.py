"""One tenant's runaway templates cannot stall the gateway for the others (a real uvicorn server, real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.live_gateway import LiveGateway, new_tenant, start_gateway
from tests.support.stalls import Stalls

PREVIEW = "/cep/templates/preview"
# Empty loop bodies: the loop budget runs out in about 20 ms (0.1 s with an output per iteration, which CI once
# slowed past the 1 s deadline: the render then failed on time, not on its loop budget).
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DOUBLING = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
# Under the loop budget, so it runs to the deadline.
SLOW = "{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}"
EVIL = (NESTED_LOOPS, DOUBLING, SLOW)
EXPECTED = ("loop iterations", "a value larger than", "render took longer than")
OTHER_SECONDS = 4.0  # how long the other client keeps asking while the attacker keeps sending


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path)
    yield live
    live.stop()


def _attack(gateway: LiveGateway, headers: dict[str, str], stop: threading.Event, answers: list[Any]) -> None:
    """Post the evil templates one after the other until told to stop (at most 200 requests)."""
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=30) as client:
        for index in range(200):
            if stop.is_set():
                return
            started = time.monotonic()
            response = client.post(PREVIEW, json={"template": EVIL[index % len(EVIL)]})
            answers.append((index % len(EVIL), time.monotonic() - started, response.json()))


@pytest.mark.timeout(120)
def test_a_runaway_template_leaves_other_clients_served(gateway: LiveGateway) -> None:
    evil, other = gateway.token(new_tenant(), "viewer"), gateway.token(new_tenant(), "editor")
    answers: list[Any] = []
    stop = threading.Event()
    attacker = threading.Thread(target=_attack, args=(gateway, evil, stop, answers), daemon=True)
    latencies: list[tuple[str, float, float]] = []  # (path, sent at, answered at)
    with Stalls() as stalls, httpx.Client(base_url=gateway.url, headers=other, timeout=10) as client:
        attacker.start()
        time.sleep(0.2)  # the first evil render is running
        until = time.monotonic() + OTHER_SECONDS
        while time.monotonic() < until:
            for method, path, body in (
                ("GET", "/cep/rules", None),
                ("POST", PREVIEW, {"template": "{{ rule_name }} on {{ payload.host }}"}),
                ("GET", "/healthz", None),
            ):
                started = time.monotonic()
                response = client.request(method, path, json=body)
                latencies.append((path, started, time.monotonic()))
                assert response.status_code == 200, response.text
            time.sleep(0.05)
    stop.set()
    attacker.join(timeout=60)
    assert not attacker.is_alive(), "the attacker's requests did not end"
    # A collection of the test session's heap or a stall of the machine pauses the in-process server as well.
    waits = [(path, end - start, stalls.within(start, end)) for path, start, end in latencies]
    slow = [(path, round(seconds, 2), round(stalled, 2)) for path, seconds, stalled in waits if seconds - stalled >= 1]
    assert not slow, f"other clients waited (path, seconds, of which the process or machine stalled): {slow}"
    assert len(latencies) >= 9, "the other client hardly got through"
    assert len(answers) >= len(EVIL) * 2, "the attacker was not kept busy"
    for kind, seconds, answer in answers:
        assert answer["ok"] is False and answer["error"]["kind"] == "template", answer
        assert EXPECTED[kind] in answer["error"]["detail"], answer
        assert seconds < 5.0, f"an evil render took {seconds:.1f} s"
