"""NATS itself fails under load: nats-server SIGKILLed and restarted (JetStream fsyncs every write), and a TCP
proxy between the ingest service and nats-server that cuts its connections."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.chaos.conftest import start_chaos_stack
from tests.chaos.faults import Fault, backlog, drop_connections, kill
from tests.chaos.harness import run_fault
from tests.chaos.proxy import DroppingProxy
from tests.support.stack import Stack, stop_stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, DroppingProxy]]:
    """A stack whose ingest service reaches NATS only through the proxy (`CEP_UP_NATS_PORT_INGEST`); the proxy
    finds nats-server's port in the stack's ports.json when the service connects."""
    state_dir = tmp_path_factory.mktemp("chaos") / "state"
    proxy = DroppingProxy(lambda: int(json.loads((state_dir / "ports.json").read_text())["nats"])).start()
    stack = start_chaos_stack(state_dir, CEP_UP_NATS_PORT_INGEST=str(proxy.port))
    yield stack, proxy
    stop_stack(stack)
    proxy.stop()


def test_dropped_nats_connections_of_the_ingest_service_lose_and_double_nothing(
    proxied: tuple[Stack, DroppingProxy],
) -> None:
    stack, proxy = proxied
    assert proxy.connections, "the ingest service does not go through the proxy"
    fault = Fault("NATS connections of ingest cut 3x", 15, backlog("CEP_EVENTS/router"), drop_connections(proxy))
    run_fault(stack, fault)


# Runs last in the module: the restart is the hardest fault, the others run on a stack that never saw it.
def test_nats_server_sigkilled_and_restarted_under_load_loses_and_doubles_nothing(
    proxied: tuple[Stack, DroppingProxy],
) -> None:
    stack, _ = proxied
    run_fault(stack, Fault("SIGKILL nats-server, restarted", 30, backlog("CEP_"), kill("nats")))
