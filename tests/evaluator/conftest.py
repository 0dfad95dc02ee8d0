"""Evaluator fixtures: a private nats-server per test (shard consumers, snapshots and streams are global names)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from services.evaluator.options import ShardOptions
from services.evaluator.shard import ShardActor
from tests.support.nats import NatsServer, start_nats


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test alone: the evaluator's consumers and buckets have fixed names."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


class Actors:
    """Shard actors made by a test, ended when it finishes."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def new(self, shard: int, options: ShardOptions) -> Any:
        actor = ShardActor.options(max_restarts=-1, max_task_retries=0).remote(shard, options)  # type: ignore[attr-defined]
        self.made.append(actor)
        return actor


@pytest.fixture
def actors(ray_session: None) -> Iterator[Actors]:
    made = Actors()
    yield made
    for actor in made.made:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
