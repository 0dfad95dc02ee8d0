"""A `cep up` stack for the benchmark: started as an operator would, rules created over REST, backlogs read.

The stack is the real product: nats-server (JetStream, the default durability), the ingest router, the
evaluator with its shard actors on Ray, the gateway with its recorder (SQLite), the notifier and scheduler.
Backlogs come from nats-server's monitoring endpoint (`/jsz`), which needs no credentials.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.pipeline.workload import RuleShape
from services.common.domain.rules.model import Rule
from services.common.statedir import database_file
from tests.support.stack import Stack, start_stack, stop_stack

TOKEN = "bench-admin-token"


@dataclass(frozen=True)
class Backlog:
    """Messages not yet done per consumer (not delivered + delivered but unacked), from `/jsz`."""

    by_consumer: dict[str, int]

    def of(self, name: str) -> int:
        return self.by_consumer.get(name, 0)

    @property
    def shards(self) -> int:
        return sum(count for name, count in self.by_consumer.items() if name.startswith("shard-"))


@dataclass
class BenchStack:
    """A running stack and what the benchmark needs from it: URLs, token, monitoring, database file."""

    stack: Stack
    shards: int

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def token(self) -> str:
        return self.stack.token

    @property
    def ports(self) -> dict[str, int]:
        return json.loads((self.stack.state_dir / "ports.json").read_text())

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports['nats']}"

    def backlog(self) -> Backlog:
        """Every durable consumer's backlog right now."""
        url = f"http://127.0.0.1:{self.ports['nats_monitor']}/jsz?accounts=true&consumers=true"
        data = httpx.get(url, timeout=5).json()
        found: dict[str, int] = {}
        for account in data.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                for consumer in stream.get("consumer_detail") or []:
                    name = consumer["name"]
                    found[name] = found.get(name, 0) + int(consumer["num_pending"]) + int(consumer["num_ack_pending"])
        return Backlog(found)

    def evaluated(self) -> float:
        """Events the shards have evaluated so far (`cep_eval_events_total`, summed over the shards; the
        evaluator refreshes it from the shards' status every second)."""
        url = f"http://127.0.0.1:{self.ports['evaluator']}/metrics"
        for line in httpx.get(url, timeout=5).text.splitlines():
            if line.startswith("cep_eval_events_total "):
                return float(line.split()[1])
        return 0.0

    def recorded(self, rule_ids: set[str]) -> set[str]:
        """The alert transition ids the recorder committed to SQL for these rules."""
        path = database_file(self.stack.state_dir)
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
            rows = db.execute(
                "SELECT t.transition_id, e.rule_id FROM transitions t JOIN events e ON e.event_id = t.event_id "
                "WHERE t.kind IN ('fired', 'updated', 'resolved') AND t.transition_id NOT LIKE '%:%'"
            ).fetchall()  # ids with a prefix (`sla:...`) are the gateway's own markers, not engine transitions
        return {tid for tid, rule_id in rows if rule_id in rule_ids}


@contextmanager
def running_stack(workdir: Path, shards: int, env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    """`cep up` with `CEP_SHARDS=shards` (and `env`) in a fresh state dir under `workdir`; stopped on exit."""
    state = workdir / f"stack-{shards}-shards-{len(list(workdir.glob('stack-*')))}"
    stack = start_stack(state, token=TOKEN, env={"CEP_SHARDS": str(shards), **(env or {})})
    try:
        yield BenchStack(stack, shards)
    finally:
        stop_stack(stack)


async def create_rules(bench: BenchStack, shapes: Sequence[RuleShape], concurrency: int = 8) -> list[Rule]:
    """POST every rule (active) to /cep/rules, `concurrency` at a time; the stored rules, in `shapes` order."""
    headers = {"Authorization": f"Bearer {bench.token}"}
    out: list[Rule | None] = [None] * len(shapes)
    queue = iter(range(len(shapes)))
    async with httpx.AsyncClient(base_url=bench.url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            for index in queue:
                response = await client.post("/cep/rules", json=shapes[index].api_body())
                response.raise_for_status()
                body = response.json()  # the API may add fields the stored Rule does not have: take its own
                out[index] = Rule.model_validate({k: v for k, v in body.items() if k in Rule.model_fields})

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [rule for rule in out if rule is not None]
