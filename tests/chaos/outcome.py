"""Read what the stack made of a workload and hold it against the oracle: alerts, deliveries, schedule runs."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from services.common.domain.events.model import parse_time
from tests.chaos.workload import Episode, Expected, Fingerprint
from tests.support.receiver import Received

Series = dict[Fingerprint, tuple[list[Episode], str]]  # recorded episodes (sorted) and the series' host


def recorded_alerts(apis: list[httpx.Client], rule_ids: set[str]) -> tuple[dict[Fingerprint, int], int]:
    """`/cep/events` of the given rules in every tenant: count per fingerprint, and how many rows repeat one."""
    counts: dict[Fingerprint, int] = {}
    repeated = 0
    for event in _events(apis):
        key = (event["rule_id"], event["group_key"])
        if event["rule_id"] not in rule_ids:
            continue
        if key in counts:
            repeated += 1
        counts[key] = counts.get(key, 0) + event["count"]
    return counts, repeated


def recorded_series(apis: list[httpx.Client], rule_ids: set[str]) -> Series:
    """`/cep/events` of the given metric and anomaly rules: per fingerprint its episodes and host."""
    found: Series = {}
    for event in _events(apis):
        if event["rule_id"] not in rule_ids:
            continue
        episodes, _ = found.setdefault((event["rule_id"], event["group_key"]), ([], str(event["payload"].get("host"))))
        resolved = event.get("resolved_at")
        episodes.append((parse_time(event["fired_at"]), parse_time(resolved) if resolved else None))
    return {key: (sorted(episodes), host) for key, (episodes, host) in found.items()}


def _events(apis: list[httpx.Client]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for api in apis:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = api.get("/cep/events", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return items


@dataclass
class Verdict:
    """Accepted events missing from the alerts' counts (`lost`), counts beyond every event that may have been
    stored (`duplicated`: doubled work, or a second row for one fingerprint), and alerts that never appeared."""

    lost: int = 0
    duplicated: int = 0
    missing_alerts: int = 0
    series_wrong: int = 0  # metric/anomaly fingerprints whose recorded episodes differ from the reference's
    examples: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.missing_alerts == 0 and self.series_wrong == 0


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


def judge_series(verdict: Verdict, oracle: Expected, got: Series, uncertain_hosts: set[str]) -> Verdict:
    """Every metric and anomaly fingerprint must have exactly the reference's episodes (fired_at, resolved_at),
    one row each; series a failed attempt may have stored in part or twice are not judged."""
    for key in set(oracle.episodes) | set(got):
        host = oracle.hosts.get(key) or got[key][1]
        if host in uncertain_hosts:
            continue
        want, have = sorted(oracle.episodes.get(key, [])), got.get(key, ([], host))[0]
        if want == have:
            continue
        verdict.series_wrong += 1
        if len(verdict.examples) < 5:
            verdict.examples.append(f"{key}: recorded {_show(have)}, the reference {_show(want)}")
    return verdict


def _show(episodes: list[Episode]) -> str:
    return ", ".join(f"{a:%H:%M:%S.%f}-{f'{b:%H:%M:%S.%f}' if b else 'open'}" for a, b in episodes) or "none"


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
