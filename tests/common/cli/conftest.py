"""One real gateway (uvicorn on a loopback port, the session's nats-server) for every CLI test module here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.live_gateway import LiveGateway, start_gateway


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    running = start_gateway(tmp_path_factory.mktemp("cli-gateway"))
    yield running
    running.stop()
