"""One chaos run: a seeded workload ingested over HTTP into a real `cep up` stack, one fault at a seeded point
while it loads, then the outcome against the oracle (the pure core over the accepted events).

Sizes come from the environment so development can run small: `CHAOS_EVENTS` (default 20000), `CHAOS_RULES`
(200), `CHAOS_SEED`. Every run records a `Row`; tests/chaos/conftest.py prints them as the table of
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from services.common.domain.rules.model import Rule
from tests.chaos.faults import Fault, Probe, backlog
from tests.chaos.loader import Load
from tests.chaos.observe import SHARDS, is_ready, shard_actor_pids, wait_ready
from tests.chaos.outcome import (
    Deliveries,
    Verdict,
    judge,
    judge_series,
    recorded_alerts,
    recorded_series,
    schedule_gaps,
)
from tests.chaos.workload import Fingerprint, Workload, expected, make_workload
from tests.support.http_sink import http_sink
from tests.support.stack import Stack

EVENTS = int(os.environ.get("CHAOS_EVENTS", "20000"))
RULES = int(os.environ.get("CHAOS_RULES", "200"))
SEED = int(os.environ.get("CHAOS_SEED", "20261126"))
TENANTS = 3
SERIES_HOSTS = int(os.environ.get("CHAOS_SERIES_HOSTS", "48"))  # per tenant: 40 samples each
WEBHOOK_RULES = 10
IN_FLIGHT_TIMEOUT = 20.0  # the fault waits this long at most for the work it must hit
CONVERGE_TIMEOUT = 400.0
PIPELINE_BACKLOG = backlog("CEP_EVENTS/", "CEP_WORK/", "CEP_ALERTS/", "CEP_DELIVERY/", "CEP_RESULTS/")
STALLED_AFTER = 60.0  # stop waiting for the oracle's counts when the recorded total has not moved this long
HOOK_SECRET = "whsec_Y2hhb3Mtc3VpdGUtc2lnbmluZy1rZXk="
CHANNEL = "chaos-hook"
# A last batch ingested this long after the fault (more than a lease or trust period of any component, 10 s)
# must raise its alert within CANARY_TIMEOUT: ready must also mean that new work flows.
CANARY_AFTER, CANARY_TIMEOUT, CANARY_EVENTS = 15.0, 30.0, 20


@dataclass
class Row:
    """One line of the table: what the fault hit, what was lost or doubled, how long recovery took."""

    fault: str
    events: int  # accepted (202) events
    uncertain: int  # events of failed attempts (503, connection lost mid-request): allowed, never required
    in_flight: str
    lost: int
    duplicated: int
    missing_alerts: int
    series_wrong: int  # metric/anomaly fingerprints whose episodes differ from the reference engine's
    deliveries: int  # fingerprints whose webhook arrived
    repeated_deliveries: int  # requests repeating a webhook-id already received
    schedule_runs: int
    recovery: float  # seconds from the end of the fault to /readyz 200 with every shard consuming
    budget: float
    converged: float  # seconds from the end of the load until every alert count matched the oracle
    canary: float  # seconds until a batch sent CANARY_AFTER s after the fault raised its alert


RESULTS: list[Row] = []


def run_fault(stack: Stack, fault: Fault) -> Row:
    """Run the whole scenario for one fault; record its row, then assert the guarantees."""
    began = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {fault.name}: {text}", flush=True)

    seed = zlib.crc32(f"{SEED}:{fault.name}".encode())
    rng = random.Random(seed)
    wait_ready(stack)
    run = f"chaos-{uuid.uuid4().hex[:8]}"
    tenants = [f"{run}-{n}" for n in range(TENANTS)]
    tokens = [_token(stack, tenant) for tenant in tenants]
    workload = make_workload(seed, EVENTS, RULES, CHANNEL, WEBHOOK_RULES, TENANTS, SERIES_HOSTS)
    with http_sink(lambda _: (200, b"{}")) as sink, contextlib.ExitStack() as clients:
        apis = [clients.enter_context(stack.client(token)) for token in tokens]
        config = {"url": sink.url, "secret": HOOK_SECRET, "retry_initial": "200ms", "retry_max": "1s"}
        for api in apis:
            created = api.post("/cep/channels", json={"name": CHANNEL, "type": "webhook", "config": config})
            assert created.status_code == 201, created.text
        with ThreadPoolExecutor(4) as pool:
            rules = list(pool.map(lambda owned: _create(apis[owned[0]], owned[1]), workload.rules))
        ticker = _create(apis[0], _EVERY_SECOND)
        load = Load(stack.url, tokens, workload.batches)
        try:
            load.start()
            say(f"{len(rules)} rules in {TENANTS} tenants; loading {workload.events} events")
            load.wait_batches(rng.randint(len(workload.batches) // 4, max(1, len(workload.batches) * 3 // 5)))
            hit = _await_in_flight(stack, fault)
            say(f"striking after {load.done_batches} batches; in flight: {hit}")
            probe = fault.strike(stack, rng)
            fault_over = time.monotonic()
            recovery = _recovery_seconds(stack, probe, fault.budget + 60)
            say(f"ready again {recovery:.1f}s after the fault")
            load.join()
            loaded = time.monotonic()
            say(f"load done: {len(load.accepted)} accepted, {len(load.uncertain)} uncertain, retries {load.retries}")
            outcome, matched_at = _converge(stack, apis, workload, rules, tenants, load, sink.requests)
            converged = matched_at - loaded
            say(f"outcome {'matched' if outcome[0].exact else 'did NOT match'} after {converged:.1f}s")
            canary = _canary_seconds(apis[0], rules[0].rule_id, workload, not_before=fault_over + CANARY_AFTER)
            say(f"a canary batch sent after the fault was alerted on in {canary:.1f}s")
            runs, schedule_problems = schedule_gaps(apis[0], ticker.rule_id)
        finally:
            load.stop()
            _delete(apis, [*rules, ticker], [t for t, _ in workload.rules] + [0])
    verdict, deliveries, webhooks_missing, webhooks_unexpected = outcome
    row = Row(
        fault.name,
        len(load.accepted),
        len(load.uncertain),
        ", ".join(f"{k} {v}" for k, v in sorted(hit.items())),
        verdict.lost,
        verdict.duplicated,
        verdict.missing_alerts,
        verdict.series_wrong,
        len(deliveries.ids),
        deliveries.repeats(),
        runs,
        round(recovery, 1),
        fault.budget,
        round(converged, 1),
        round(canary, 1),
    )
    RESULTS.append(row)
    print(f"\n{row}\nretried ingest attempts by status: {load.retries}; examples: {verdict.examples}")
    assert verdict.exact, f"{fault.name}: {verdict}"
    assert not webhooks_missing, f"webhooks never delivered for {sorted(webhooks_missing)[:5]}"
    assert not webhooks_unexpected, f"webhooks for alerts that should not exist: {sorted(webhooks_unexpected)[:5]}"
    assert not deliveries.with_two_ids(), f"one alert delivered under two webhook-ids: {deliveries.with_two_ids()}"
    assert runs >= 5 and not schedule_problems, f"schedule runs ({runs}): {schedule_problems[:5]}"
    assert recovery <= fault.budget, f"{fault.name}: back to ready after {recovery:.1f}s > budget {fault.budget}s"
    assert canary <= CANARY_TIMEOUT, f"{fault.name}: events ingested {CANARY_AFTER}s after the fault are not processed"
    return row


_EVERY_SECOND = {  # the stack runs with CEP_SCHEDULER_CRON_SECONDS: the minute field counts seconds
    "name": "chaos-tick",
    "trigger_type": "schedule",
    "active": True,
    "trigger_spec": {"cron": "* * * * *", "timezone": "UTC"},
}


def _delete(apis: list[httpx.Client], rules: list[Rule], owners: list[int]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: apis[owners[n]].delete(f"/cep/rules/{rules[n].rule_id}"), range(len(rules))))


def _token(stack: Stack, tenant: str) -> str:
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "chaos"})
    assert minted.status_code == 201, minted.text
    return str(minted.json()["token"])


def _create(api: httpx.Client, body: dict[str, Any]) -> Rule:
    created = api.post("/cep/rules", json=body)
    assert created.status_code == 201, created.text
    return Rule.model_validate(
        {k: v for k, v in created.json().items() if k in Rule.model_fields}
    )  # minus read-only extras


def _await_in_flight(stack: Stack, fault: Fault) -> dict[str, int]:
    """Wait until the work this fault should hit is there; fail when it never shows (the fault would prove nothing)."""
    deadline = time.monotonic() + IN_FLIGHT_TIMEOUT
    while time.monotonic() < deadline:
        if hit := fault.in_flight(stack):
            return hit
        time.sleep(0.05)
    raise AssertionError(f"{fault.name}: no in-flight work to hit within {IN_FLIGHT_TIMEOUT}s")


def _recovery_seconds(stack: Stack, back: Probe, give_up: float) -> float:
    """Seconds until the victim is back and the whole stack ready (every shard actor consuming)."""
    began = time.monotonic()
    while time.monotonic() - began < give_up:
        if back() and is_ready(stack) and len(shard_actor_pids(stack.state_dir)) >= SHARDS:
            return time.monotonic() - began
        time.sleep(0.25)
    return time.monotonic() - began


def _canary_seconds(api: httpx.Client, rule_id: str, workload: Workload, not_before: float) -> float:
    """Ingest CANARY_EVENTS events for the first rule under a fresh key; seconds until its alert counts them all
    (CANARY_TIMEOUT + 1 when it never does)."""
    time.sleep(max(0.0, not_before - time.monotonic()))
    first = next(item for _, batch in workload.batches for item in batch if item.get("event_type") == "t-0")
    canary = {**first, "key": "canary", "level": 0, "n": -1}  # rule 0 (tenant 0): type t-0, level < 5
    sent = api.post("/cep/ingest", json=[canary] * CANARY_EVENTS)
    assert sent.status_code == 202, sent.text
    began = time.monotonic()
    while time.monotonic() - began < CANARY_TIMEOUT:
        items = api.get("/cep/events", params={"rule_id": rule_id, "limit": 1000}).json()["items"]
        if any("canary" in e["group_key"] and e["count"] >= CANARY_EVENTS for e in items):
            return time.monotonic() - began
        time.sleep(0.5)
    return CANARY_TIMEOUT + 1


Outcome = tuple[Verdict, Deliveries, set[Fingerprint], set[Fingerprint]]


def _drain(stack: Stack, deadline: float) -> None:
    """Wait (cheaply, from /jsz) until the pipeline's consumers have nothing left, or it stops draining."""
    best, moved = float("inf"), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - moved < STALLED_AFTER:
        left = sum(PIPELINE_BACKLOG(stack).values())
        if left == 0:
            return
        if left < best:
            best, moved = left, time.monotonic()
        time.sleep(1.0)


def _converge(
    stack: Stack,
    apis: list[httpx.Client],
    workload: Workload,
    rules: list[Rule],
    tenants: list[str],
    load: Load,
    requests: Any,
) -> tuple[Outcome, float]:
    """Poll until the alerts and deliveries match the oracle (or time runs out), then judge once more after a
    pause, so late duplicates are caught too; return the outcome and when it first matched."""
    low = expected(rules, tenants, load.accepted)
    high = expected(rules, tenants, load.accepted + load.uncertain).counts
    uncertain_hosts = {str(item["host"]) for _, item in load.uncertain if "host" in item}
    hooked = {r.rule_id for r, (_, body) in zip(rules, workload.rules, strict=True) if body.get("action_spec")}
    must_deliver = {key for key in low.counts if key[0] in hooked}
    may_deliver = {key for key in high if key[0] in hooked}
    event_rules = {r.rule_id for r in rules if r.trigger_type == "event"}
    series_rules = {r.rule_id for r in rules} - event_rules
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    _drain(stack, deadline)
    matched_at: float | None = None
    progress = (-1, time.monotonic())  # (recorded total, when it last changed)
    while True:
        got, repeated = recorded_alerts(apis, event_rules)
        verdict = judge(low.counts, high, got, repeated)
        verdict = judge_series(verdict, low, recorded_series(apis, series_rules), uncertain_hosts)
        deliveries = Deliveries.of(requests)
        done = verdict.exact and not deliveries.missing(must_deliver)
        now = time.monotonic()
        if sum(got.values()) != progress[0]:
            progress = (sum(got.values()), now)
        stalled = now - progress[1] > STALLED_AFTER
        if (done and matched_at is not None) or now > deadline or stalled:
            outcome = (verdict, deliveries, deliveries.missing(must_deliver), deliveries.unexpected(may_deliver))
            return outcome, matched_at or now
        matched_at = now if done else None
        time.sleep(2.0)
