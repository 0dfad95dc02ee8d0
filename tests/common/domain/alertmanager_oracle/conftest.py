"""One real Alertmanager per test session: the oracle these differential tests compare the domain with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.common.domain.alertmanager_oracle.generate import config
from tests.support.alertmanager import Alertmanager, missing_binaries, start_alertmanager

PLAIN = config({"receiver": "null"}, ["null"], [])


@pytest.fixture(scope="session")
def oracle_binaries() -> None:
    """Skip, saying why, where Alertmanager or amtool is not installed (`make alertmanager` installs both)."""
    missing = missing_binaries()
    if missing is not None:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def alertmanager(oracle_binaries: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """The real Alertmanager 0.25 on a random loopback port, shared by the session's oracle tests."""
    server = start_alertmanager(tmp_path_factory.mktemp("alertmanager"), PLAIN)
    yield server
    server.stop()
