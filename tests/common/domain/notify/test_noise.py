"""The noise stage's pure rules: storm budget windows, digests, cooldown."""

from __future__ import annotations

import pytest

from services.common.domain.notify.noise import (
    CooldownMark,
    NoisePolicy,
    StormState,
    admit,
    cool,
    digest_text,
    take_digest,
)


def test_policy_defaults_and_overrides() -> None:
    assert NoisePolicy.of(None) == NoisePolicy(20, 300.0, None)
    custom = NoisePolicy.of({"storm_budget": 3, "storm_window": "1m", "cooldown": "10m"})
    assert custom == NoisePolicy(3, 60.0, 600.0)


def test_the_budget_sends_20_then_suppresses_and_counts_by_key() -> None:
    state, policy = StormState(), NoisePolicy()
    verdicts = [admit(state, 1000.0 + i * 0.01, policy, f"host={i % 3}") for i in range(1000)]
    assert sum(v.send for v in verdicts) == 20
    assert all(v.send for v in verdicts[:20]) and not any(v.send for v in verdicts[20:])
    # the first suppression asks for a digest at the end of the window, and only the first
    assert [v.digest_due for v in verdicts if v.digest_due is not None] == [1300.0]
    assert state.current is not None and (state.current.sent, state.current.suppressed) == (20, 980)
    assert sum(state.current.keys.values()) == 980
    assert "storm budget of 20" in verdicts[-1].reason


def test_a_new_window_opens_after_the_old_one_ends_and_the_old_digest_stays_due() -> None:
    state, policy = StormState(), NoisePolicy(budget=2, window=60.0)
    for t in range(5):
        admit(state, 100.0 + t, policy, "a")
    fresh = admit(state, 161.0, policy, "b")
    assert fresh.send and fresh.window_start == 161.0
    assert [w.start for w in state.closed] == [100.0]
    # the closed window's digest, once; the new window has nothing to digest
    window = take_digest(state, 100.0, 170.0, policy)
    assert window is not None and (window.sent, window.suppressed, window.top()) == (2, 3, [("a", 3)])
    assert take_digest(state, 100.0, 170.0, policy) is None
    assert take_digest(state, 161.0, 300.0, policy) is None


def test_the_current_window_is_digested_only_once_it_has_ended() -> None:
    state, policy = StormState(), NoisePolicy(budget=1, window=60.0)
    admit(state, 0.0, policy, "x")
    admit(state, 1.0, policy, "y")
    assert take_digest(state, 0.0, 30.0, policy) is None  # not over yet
    window = take_digest(state, 0.0, 61.0, policy)
    assert window is not None and window.digested and window.top() == [("y", 1)]
    assert take_digest(state, 0.0, 62.0, policy) is None
    admit(state, 200.0, policy, "z")  # the digested window is not kept as a closed one
    assert state.closed == []


def test_state_round_trips_through_json_shapes() -> None:
    state, policy = StormState(), NoisePolicy(budget=1, window=10.0)
    for t in range(4):
        admit(state, float(t), policy, f"k{t}")
    admit(state, 20.0, policy, "k")
    again = StormState.from_dict(state.as_dict())
    assert again == state


def test_top_keys_stay_bounded_and_right() -> None:
    state, policy = StormState(), NoisePolicy(budget=0 + 1, window=1000.0)
    admit(state, 0.0, policy, "first")
    for i in range(500):
        admit(state, 1.0, policy, f"rare-{i}")
    for _ in range(50):
        admit(state, 2.0, policy, "hot")
    assert state.current is not None
    assert len(state.current.keys) <= 100 and state.current.top(1)[0][0] == "hot"
    # Space-Saving over-counts a late key by at most (suppressed / keys kept): 550 / 100
    assert 50 <= state.current.top(1)[0][1] <= 50 + 6
    text = digest_text("cpu_high", state.current, policy)
    assert "551 notifications" in text and "550 suppressed" in text and "hot (5" in text


@pytest.mark.parametrize(
    ("mark", "kind", "event_id", "now", "sent"),
    [
        (None, "fired", "e1", 0.0, True),
        (CooldownMark(0.0, "e1"), "fired", "e2", 599.0, False),
        (CooldownMark(0.0, "e1"), "fired", "e2", 600.0, True),
        (CooldownMark(0.0, "e1"), "resolved", "e1", 10.0, True),
        (CooldownMark(0.0, "e1"), "resolved", "e2", 10.0, False),
        (None, "resolved", "e2", 10.0, True),
    ],
)
def test_cooldown(mark: CooldownMark | None, kind: str, event_id: str, now: float, sent: bool) -> None:
    assert cool(mark, kind, event_id, now, 600.0)[0] is sent
