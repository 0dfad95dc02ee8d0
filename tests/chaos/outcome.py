"""Read what the stack made of a workload and hold it against the oracle: alerts, deliveries, schedule runs."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tests.chaos.workload import Fingerprint
from tests.support.receiver import Received


def recorded_alerts(api: httpx.Client, rule_ids: set[str]) -> tuple[dict[Fingerprint, int], int]:
    """`/cep/events` of the given rules: count per fingerprint, and how many rows repeat a fingerprint."""
    counts: dict[Fingerprint, int] = {}
    repeated, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = api.get("/cep/events", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        for event in body["items"]:
            key = (event["rule_id"], event["group_key"])
            if event["rule_id"] not in rule_ids:
                continue
            if key in counts:
                repeated += 1
            counts[key] = counts.get(key, 0) + event["count"]
        cursor = body.get("next_cursor")
        if not cursor:
            return counts, repeated


@dataclass
class Verdict:
    """Accepted events missing from the alerts' counts (`lost`), counts beyond every event that may have been
    stored (`duplicated`: doubled work, or a second row for one fingerprint), and alerts that never appeared."""

    lost: int = 0
    duplicated: int = 0
    missing_alerts: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.missing_alerts == 0


def judge(
    low: Counter[Fingerprint], high: Counter[Fingerprint], got: dict[Fingerprint, int], repeated_rows: int
) -> Verdict:
    """`low`: the oracle over accepted events (must all be counted); `high`: over accepted + uncertain ones."""
    verdict = Verdict(duplicated=repeated_rows)
    for key in set(low) | set(high) | set(got):
        have, need, allowed = got.get(key, 0), low.get(key, 0), high.get(key, 0)
        if key in low and key not in got:
            verdict.missing_alerts += 1
        if have < need:
            verdict.lost += need - have
        elif have > allowed:
            verdict.duplicated += have - allowed
        else:
            continue
        if len(verdict.examples) < 5:
            verdict.examples.append(f"{key}: counted {have}, expected {need}..{allowed}")
    return verdict


@dataclass
class Deliveries:
    """Webhook requests per fingerprint, by webhook-id."""

    ids: dict[Fingerprint, Counter[str]]

    @classmethod
    def of(cls, requests: list[Received]) -> Deliveries:
        ids: dict[Fingerprint, Counter[str]] = defaultdict(Counter)
        for request in list(requests):
            body = request.json()
            headers = {k.lower(): v for k, v in request.headers.items()}
            ids[(body["rule_id"], body["group_key"])][headers["webhook-id"]] += 1
        return cls(dict(ids))

    def missing(self, expected: set[Fingerprint]) -> set[Fingerprint]:
        return expected - set(self.ids)

    def unexpected(self, allowed: set[Fingerprint]) -> set[Fingerprint]:
        return set(self.ids) - allowed

    def with_two_ids(self) -> dict[Fingerprint, list[str]]:
        """Fingerprints delivered under more than one webhook-id: a real duplicate, not a retried request."""
        return {key: sorted(seen) for key, seen in self.ids.items() if len(seen) > 1}

    def repeats(self) -> int:
        """Requests that repeated a webhook-id already received (allowed: receivers de-duplicate on it)."""
        return sum(n - 1 for seen in self.ids.values() for n in seen.values())


def schedule_gaps(api: httpx.Client, rule_id: str) -> tuple[int, list[str]]:
    """The rule's recorded runs (every second): how many, and what is wrong (missed, twice, a gap)."""
    answer = api.get("/cep/scheduler/runs", params={"rule_id": rule_id, "limit": 1000})
    assert answer.status_code == 200, answer.text
    runs = answer.json()["items"]
    problems = [f"{r['scheduled_at']} {r['status']}" for r in runs if r["status"] == "missed"]
    times = sorted(datetime.fromisoformat(r["scheduled_at"].replace("Z", "+00:00")) for r in runs)
    problems += [f"{a.isoformat()} recorded twice" for a, b in itertools.pairwise(times) if a == b]
    problems += [
        f"gap {a.isoformat()} -> {b.isoformat()}" for a, b in itertools.pairwise(times) if (b - a).total_seconds() > 1
    ]
    return len(runs), problems
