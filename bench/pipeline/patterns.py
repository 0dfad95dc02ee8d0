"""Pattern rules beside plain rules: the brute-force login pattern over N users through the engine the shards run.

The same login events (per user, cycles of five `login.failed` then one `login.succeeded`, users interleaved, 10 ms
of event time apart) go once to the pattern rule (`login.failed x5+ then login.succeeded within 2m, same user`) and
once to a plain event rule on `login.failed` grouped by user, each alone in a `ShardState` fed steps of
`EventWork` as a shard's consume loop feeds it. Both are checked: the pattern must match every cycle once (one
event per user, absorbing the later cycles), the plain rule must open one event per user.

`python -m bench.pipeline.patterns [users events]` prints the figures.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.events.model import Event
from services.common.domain.rules.model import Rule
from services.evaluator.processor import Output, ShardState
from services.evaluator.work import EventWork

STEP_EVENTS = 100  # events per engine call, as in engine.py
CYCLE = 6  # five failures and a success
T0 = datetime(2026, 1, 1, tzinfo=UTC)

PATTERN = {
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "fail", "event_type": "login.failed", "times": {"min": 5}},
            {"name": "ok", "event_type": "login.succeeded"},
        ],
        "within": "2m",
        "same": ["user"],
    },
}
PLAIN = {"trigger_type": "event", "trigger_spec": {"event_type": "login.failed", "group_by": ["user"]}}


def _rule(body: dict[str, Any], rule_id: str) -> Rule:
    return Rule.model_validate(
        {"name": rule_id, "active": True, **body, "rule_id": rule_id, "tenant": "bench", "version": 1}
        | {"created_at": T0, "updated_at": T0}
    )


def login_events(users: int, events: int) -> list[Event]:
    """`events` login events: user u's n-th event is a failure unless n is the last of a cycle of six."""
    out = []
    for index in range(events):
        user, n = index % users, index // users
        kind = "login.succeeded" if n % CYCLE == CYCLE - 1 else "login.failed"
        at = T0 + timedelta(milliseconds=10 * index)
        out.append(Event(f"e{index}", "bench", at, {"user": f"u{user}", "n": n}, kind, at))
    return out


def _run(rule: Rule, events: list[Event]) -> tuple[Output, float]:
    state = ShardState.from_rules([rule])
    steps = [
        [EventWork(seq, event) for seq, event in enumerate(events[first : first + STEP_EVENTS], first)]
        for first in range(0, len(events), STEP_EVENTS)
    ]
    out = Output()
    started = time.perf_counter()
    for step in steps:
        state.run(step, out)
    elapsed = time.perf_counter() - started
    if out.failures or out.refusals:
        raise AssertionError(f"the engine refused or failed: {out.failures[:3]} {out.refusals[:3]}")
    return out, elapsed


def pattern_vs_plain(users: int, events: int) -> dict[str, Any]:
    """Events/s of the login pattern and of a plain event rule over the same events, both checked."""
    stream = login_events(users, events)
    cycles = sum(1 for e in stream if e.event_type == "login.succeeded")
    pattern, pattern_seconds = _run(_rule(PATTERN, "brute_force"), stream)
    kinds = [transition.kind for transition, _ in pattern.alerts]
    if kinds.count("fired") + kinds.count("updated") != cycles:
        raise AssertionError(f"the pattern matched {len(kinds)} times, not once per cycle ({cycles})")
    plain, plain_seconds = _run(_rule(PLAIN, "failures"), stream)
    if sum(1 for transition, _ in plain.alerts if transition.kind == "fired") != min(users, events):
        raise AssertionError("the plain rule did not open one event per user")
    pattern_eps, plain_eps = events / pattern_seconds, events / plain_seconds
    return {
        "users": users,
        "events": events,
        "matches": cycles,
        "pattern_eps": round(pattern_eps, 1),
        "plain_event_rule_eps": round(plain_eps, 1),
        "ratio_pattern_vs_plain": round(pattern_eps / plain_eps, 3),
    }


def main() -> None:
    users, events = (int(arg) for arg in sys.argv[1:3]) if len(sys.argv) > 2 else (100, 30_000)
    print(pattern_vs_plain(users, events))


if __name__ == "__main__":
    main()
