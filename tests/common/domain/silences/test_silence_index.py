"""The silence index hands `silenced` and `mutes` every silence that could mute a label set: the verdicts over
its candidates equal the verdicts over all the silences, on generated silences and label sets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.common.domain.labels.label_set import normalize
from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.notify.muting import silencing
from services.common.domain.silences.model import Silence
from services.common.domain.silences.recurring import CronWindow, RecurringSilence
from services.common.domain.silences.silence_index import SilenceIndex

NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)
NAMES = ("alertname", "host", "team")
VALUES = ("", "a", "b")


def _matchers(rng: random.Random) -> tuple[Matcher, ...]:
    out = [Matcher(name=rng.choice(NAMES), type=MatchType.EQUAL, value=rng.choice(("a", "b")))]  # never empty-only
    for _ in range(rng.randint(0, 2)):
        kind = rng.choice(list(MatchType))
        value = rng.choice(("a|b", "a", ".*")) if kind.is_regex else rng.choice(VALUES)
        out.append(Matcher(name=rng.choice(NAMES), type=kind, value=value))
    rng.shuffle(out)
    return tuple(out)


def _silence(rng: random.Random, n: int) -> Silence | RecurringSilence:
    matchers = _matchers(rng)
    if rng.random() < 0.3:
        window = CronWindow(cron="0 * * * *", duration=timedelta(minutes=rng.choice((1, 90))))
        return RecurringSilence(
            id=f"r{n}", matchers=matchers, cron=window, starts_at=NOW - timedelta(days=1), created_by="a", comment=""
        )
    starts = NOW + timedelta(minutes=rng.choice((-60, 30)))
    return Silence(
        id=f"s{n}",
        matchers=matchers,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        created_by="a",
        comment="",
        updated_at=starts,
    )


def test_the_candidates_mute_exactly_as_all_silences_do() -> None:
    rng = random.Random(17)
    muted = 0
    for _ in range(100):
        silences = [_silence(rng, n) for n in range(rng.randint(0, 15))]
        fixed = [s for s in silences if isinstance(s, Silence)]
        recurring = [s for s in silences if isinstance(s, RecurringSilence)]
        index = SilenceIndex(silences)
        for _ in range(10):
            labels = normalize({name: rng.choice(VALUES) for name in NAMES})
            candidates = index.candidates(labels)
            expected = silencing(labels, fixed, recurring, NOW)
            assert silencing(labels, *candidates, NOW) == expected
            assert len(candidates[0]) + len(candidates[1]) <= len(silences)
            muted += bool(expected)
    assert 100 < muted < 900
