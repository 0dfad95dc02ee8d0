"""Ingest a workload over HTTP as a real producer does, in the background, while a fault strikes.

An event counts as accepted only when its batch got a 202. A 429 or 503 is retried after its `Retry-After`; a
503 or a connection lost mid-request may still have stored part of the batch (the gateway says so), so those
attempts' events are kept apart as "uncertain": the oracle allows them once more, never requires them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.chaos.workload import Entry

SENDERS = 2  # concurrent producers: enough to outpace the pipeline, so faults find work in flight
GIVE_UP_AFTER = 240.0


@dataclass
class Load:
    """Progress and outcome of one background ingest."""

    url: str
    tokens: list[str]  # per tenant index
    batches: list[tuple[int, list[dict[str, Any]]]]  # (tenant index, items)
    accepted: list[Entry] = field(default_factory=list)
    uncertain: list[Entry] = field(default_factory=list)
    retries: dict[int, int] = field(default_factory=dict)  # status (0: connection) -> retried attempts
    done_batches: int = 0
    errors: list[str] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for n in range(SENDERS):
            thread = threading.Thread(target=self._sender, name=f"chaos-sender-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait_batches(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.done_batches < count and not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.errors, self.errors
        assert self.done_batches >= count, f"only {self.done_batches} of {count} batches ingested in {timeout}s"

    def stop(self) -> None:
        """Send no further batch (a test that failed half-way leaves no producer behind)."""
        with self._lock:
            self._next = len(self.batches)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(GIVE_UP_AFTER + 30)
        assert not self.errors, self.errors
        assert self.done_batches == len(self.batches), f"{self.done_batches} of {len(self.batches)} batches"

    def _take(self) -> tuple[int, list[dict[str, Any]]] | None:
        with self._lock:
            if self._next >= len(self.batches) or self.errors:
                return None
            self._next += 1
            return self.batches[self._next - 1]

    def _sender(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as api:
            while (taken := self._take()) is not None:
                try:
                    self._send(api, *taken)
                except AssertionError as exc:
                    with self._lock:
                        self.errors.append(str(exc))
                    return

    def _send(self, api: httpx.Client, tenant: int, items: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + GIVE_UP_AFTER
        batch = [(tenant, item) for item in items]
        headers = {"Authorization": f"Bearer {self.tokens[tenant]}"}
        while time.monotonic() < deadline:
            try:
                answer = api.post("/cep/ingest", json=items, headers=headers)
            except httpx.ConnectError:  # refused before anything was sent: nothing stored
                self._retried(0, [], 0.3)
                continue
            except httpx.TransportError:  # lost mid-request: the batch may be stored in part
                self._retried(0, batch, 0.3)
                continue
            if answer.status_code == 202:
                body = answer.json()
                assert body["accepted"] == len(batch) and not body["rejected"], body
                with self._lock:
                    self.accepted += batch
                    self.done_batches += 1
                return
            if answer.status_code not in (429, 503):
                raise AssertionError(f"ingest answered {answer.status_code}: {answer.text[:300]}")
            wait = float(answer.headers.get("Retry-After") or 1)
            self._retried(answer.status_code, batch if answer.status_code == 503 else [], wait)
        raise AssertionError(f"a batch was not accepted within {GIVE_UP_AFTER}s")

    def _retried(self, status: int, maybe_stored: list[Entry], wait: float) -> None:
        with self._lock:
            self.retries[status] = self.retries.get(status, 0) + 1
            self.uncertain += maybe_stored
        time.sleep(wait)
