"""Notifier fixtures: a running notifier with a fast retry backoff, on the session's nats-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notifier.running import RunningNotifier, running_notifier


@pytest.fixture
def notifier() -> Iterator[RunningNotifier]:
    """A started notifier (both consumers running), stopped after the test."""
    with running_notifier() as running:
        yield running
