"""One real Alertmanager per test session: the oracle these differential tests compare the domain with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.common.domain.alertmanager_oracle.generate import config
from tests.support.alertmanager import Alertmanager, missing_binaries, start_alertmanager

PLAIN = config({"receiver": "null"}, ["null"], [])


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """The real Alertmanager 0.25 on a random loopback port (skipped, saying why, where it is not installed)."""
    missing = missing_binaries()
    if missing is not None:
        pytest.skip(missing)
    server = start_alertmanager(tmp_path_factory.mktemp("alertmanager"), PLAIN)
    yield server
    server.stop()


def stamp(moment: datetime) -> str:
    """A UTC instant as the v2 API writes it (milliseconds, `Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant(text: str) -> datetime:
    """An instant from the v2 API's text."""
    return datetime.fromisoformat(text)
