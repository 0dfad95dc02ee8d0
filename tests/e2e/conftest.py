"""One `cep up` stack shared by the end-to-end tests of a session (tests that stop a stack start their own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, start_stack, stop_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("e2e") / "state"
    running = start_stack(state)
    yield running
    stop_stack(running)
