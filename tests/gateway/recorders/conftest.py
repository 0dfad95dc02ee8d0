"""Recorder fixtures: a real gateway on the session's nats-server, its own SQLite database, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.live_gateway import LiveGateway, start_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path)
    yield live
    live.stop()
