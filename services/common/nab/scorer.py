"""The NAB scorer: weighted, time-aware detections in labelled windows, one threshold per corpus and profile.

Pure: it takes parsed timestamps, scores and windows and returns numbers. The rules (corpus README, after
numenta/NAB's sweeper): the first 15% of a file (at most 750 rows) is probationary and not scored; inside a
window only the earliest detection counts, weighted by a scaled sigmoid of its position (1 at the left edge,
near 0 at the right); a window with no detection costs the FN weight; a detection outside every window costs
the FP weight, less and less the closer it follows a window's right edge. The threshold is the one that
maximises the corpus's total, found by sweeping every distinct score (exact, not a hill climb).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 5000  # the probation is 15% of the file, but at most 15% of 5000 rows
NO_DETECTION = 1.1  # a threshold above every score in [0, 1]: the detector never fires


@dataclass(frozen=True)
class Profile:
    """An application profile: how much a true positive, a false positive and a missed window weigh."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True)
class ScoredRow:
    """A scored (post-probation) row: its unweighted sigmoid value and its window (index in the file) or None."""

    index: int
    window: int | None
    sigmoid: float


@dataclass(frozen=True)
class LabelledFile:
    """One file's scored rows and how many of its windows can be scored (have a post-probation row)."""

    rows: list[ScoredRow]
    windows: int
    labelled_windows: int


@dataclass(frozen=True)
class ProfileScore:
    """A profile's result over the corpus: the chosen threshold, raw and normalised totals, per-file raw."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    per_file: dict[str, float] = field(default_factory=dict)

    @property
    def normalised(self) -> float:
        return normalise(self.raw, self.null, self.perfect)


def scaled_sigmoid(y: float) -> float:
    """`2 * sigmoid(-5y) - 1`: near 1 well before a window's right edge, 0 at it, towards -1 after it."""
    if y > 100:  # exp overflows; the limit is -1
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_length(rows: int) -> float:
    return min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * PROBATION_CAP_ROWS)


def label_rows(times: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]) -> LabelledFile:
    """Place every post-probation row in its window (or none) with its unweighted sigmoid value.

    `times` must be ascending. A window covers the rows whose timestamps lie in [start, end].
    """
    spans = []
    for start, end in windows:
        left, right = bisect.bisect_left(times, start), bisect.bisect_right(times, end) - 1
        if left <= right:
            spans.append((left, right))
    probation = probation_length(len(times))
    rows: list[ScoredRow] = []
    scored_windows: set[int] = set()
    previous: tuple[int, int] | None = None  # (right index, width) of the last window passed
    span = 0
    for i in range(len(times)):
        while span < len(spans) and i > spans[span][1]:
            left, right = spans[span]
            previous = (right, right - left + 1)
            span += 1
        inside = span < len(spans) and spans[span][0] <= i
        if inside:
            left, right = spans[span]
            width = right - left + 1
            sigmoid = scaled_sigmoid(-(right - i + 1) / width)
        elif previous is None:
            sigmoid = -1.0
        else:
            right, width = previous
            sigmoid = scaled_sigmoid(abs(i - right) / max(width - 1, 1))
        if i >= probation:
            rows.append(ScoredRow(i, span if inside else None, sigmoid))
            if inside:
                scored_windows.add(span)
    return LabelledFile(rows, len(scored_windows), len(windows))


def weight(row: ScoredRow, profile: Profile) -> float:
    """A detection's contribution: TP weight scaled so a detection at a window's left edge is worth `tp`."""
    if row.window is None:
        return row.sigmoid * profile.fp
    return row.sigmoid * profile.tp / scaled_sigmoid(-1.0)


def raw_score(labelled: LabelledFile, scores: Sequence[float], threshold: float, profile: Profile) -> float:
    """A file's raw score at a threshold (a row detects when its score >= threshold)."""
    best: dict[int, float] = {}
    total = 0.0
    for row in labelled.rows:
        if scores[row.index] < threshold:
            continue
        gain = weight(row, profile)
        if row.window is None:
            total += gain
        else:
            best[row.window] = max(best.get(row.window, -math.inf), gain)
    missed = labelled.windows - len(best)
    return total + sum(best.values()) - missed * profile.fn


def best_threshold(files: Sequence[tuple[LabelledFile, Sequence[float]]], profile: Profile) -> tuple[float, float]:
    """Sweep every distinct score from high to low; return the (threshold, raw total) with the highest total.

    Lowering the threshold to the next distinct score adds exactly the rows with that score: an outside row adds
    its FP weight, a window row may replace the window's best detection (initially the FN penalty).
    """
    points: list[tuple[float, float, tuple[int, int] | None]] = []
    windows = 0
    for f, (labelled, scores) in enumerate(files):
        windows += labelled.windows
        for row in labelled.rows:
            key = None if row.window is None else (f, row.window)
            points.append((scores[row.index], weight(row, profile), key))
    points.sort(key=lambda p: p[0], reverse=True)
    best_of: dict[tuple[int, int], float] = {}
    total = -windows * profile.fn
    chosen = (NO_DETECTION, total)
    i = 0
    while i < len(points):
        threshold = points[i][0]
        while i < len(points) and points[i][0] == threshold:
            _, gain, key = points[i]
            if key is None:
                total += gain
            else:
                old = best_of.get(key, -profile.fn)
                if gain > old:
                    best_of[key] = gain
                    total += gain - old
            i += 1
        if total > chosen[1]:
            chosen = (threshold, total)
    return chosen


def normalise(raw: float, null: float, perfect: float) -> float:
    """100 for the perfect detector, 0 for the one that never fires."""
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(
    results: Mapping[str, tuple[Sequence[datetime], Sequence[float]]],
    windows: Mapping[str, Sequence[tuple[datetime, datetime]]],
    profiles: Sequence[Profile] = tuple(PROFILES.values()),
    thresholds: Mapping[str, float] | None = None,
) -> list[ProfileScore]:
    """Score a detector's results (file -> parsed timestamps, scores) under each profile.

    Every file in `results` must have its windows in `windows` (an empty list for none). The threshold per
    profile is the best one unless `thresholds` fixes it (e.g. to replay the threshold NAB published).
    """
    labelled: dict[str, LabelledFile] = {}
    for name, (times, scores) in results.items():
        if name not in windows:
            raise ValueError(f"no labelled windows for {name!r}")
        if len(times) != len(scores):
            raise ValueError(f"{name}: {len(times)} timestamps but {len(scores)} scores")
        labelled[name] = label_rows(times, windows[name])
    files = [(labelled[name], results[name][1]) for name in results]
    out = []
    for profile in profiles:
        if thresholds is not None and profile.name in thresholds:
            threshold = thresholds[profile.name]
        else:
            threshold, _ = best_threshold(files, profile)
        per_file = {name: raw_score(labelled[name], results[name][1], threshold, profile) for name in results}
        raw = sum(per_file.values())
        null = -profile.fn * sum(f.windows for f, _ in files)
        perfect = profile.tp * sum(f.labelled_windows for f, _ in files)
        out.append(ProfileScore(profile.name, threshold, raw, null, perfect, per_file))
    return out
