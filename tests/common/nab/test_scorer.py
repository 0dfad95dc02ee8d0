"""The NAB scorer on hand-made cases: windows, the sigmoid weighting, false positives, the threshold sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.common.nab.scorer import (
    PROFILES,
    best_threshold,
    label_rows,
    normalise,
    probation_length,
    raw_score,
    scaled_sigmoid,
    score_corpus,
)

STANDARD = PROFILES["standard"]
START = datetime(2024, 1, 1)
TIMES = [START + timedelta(minutes=i) for i in range(100)]  # probation: the first 15 rows
WINDOW = (TIMES[40], TIMES[49])  # rows 40..49, width 10
MAX_TP = scaled_sigmoid(-1.0)


def scores_with(detections: dict[int, float]) -> list[float]:
    return [detections.get(i, 0.0) for i in range(len(TIMES))]


def raw(detections: dict[int, float], threshold: float = 0.5, profile: str = "standard") -> float:
    return raw_score(label_rows(TIMES, [WINDOW]), scores_with(detections), threshold, PROFILES[profile])


def test_scaled_sigmoid_is_one_inside_zero_at_the_right_edge_minus_one_far_after() -> None:
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(-1.0) == pytest.approx(0.986614, abs=1e-6)
    assert scaled_sigmoid(1000.0) == -1.0
    assert scaled_sigmoid(0.5) == pytest.approx(-scaled_sigmoid(-0.5))


def test_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert probation_length(100) == 15
    assert probation_length(4000) == 600
    assert probation_length(20000) == 750


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        ({}, -1.0),  # a missed window costs the FN weight
        ({40: 1.0}, 1.0),  # at the window's left edge: the full TP weight
        ({45: 1.0}, scaled_sigmoid(-0.5) / MAX_TP),  # half way: -(49 - 45 + 1) / 10
        ({45: 1.0, 48: 1.0}, scaled_sigmoid(-0.5) / MAX_TP),  # only the earliest detection counts
        ({49: 1.0}, scaled_sigmoid(-0.1) / MAX_TP),  # at the right edge: little reward
        ({20: 1.0}, -0.11 - 1.0),  # before any window: -1 x FP weight, and the window is missed
        ({60: 1.0, 40: 1.0}, 1.0 + 0.11 * scaled_sigmoid(11 / 9)),  # after: the sigmoid of the distance
        ({50: 1.0, 40: 1.0}, 1.0 + 0.11 * scaled_sigmoid(1 / 9)),  # just after: nearly free
        ({5: 1.0}, -1.0),  # probationary rows are not scored
        ({40: 0.49}, -1.0),  # below the threshold: no detection
        ({40: 0.5}, 1.0),  # score >= threshold detects
    ],
)
def test_raw_score_of_hand_made_detections(detections: dict[int, float], expected: float) -> None:
    assert raw(detections) == pytest.approx(expected)


def test_profiles_weigh_false_positives_and_misses() -> None:
    assert raw({20: 1.0}, profile="reward_low_FP_rate") == pytest.approx(-0.22 - 1.0)
    assert raw({20: 1.0}, profile="reward_low_FN_rate") == pytest.approx(-0.11 - 2.0)


def test_sweep_picks_the_threshold_that_keeps_the_hit_and_drops_the_false_positive() -> None:
    labelled = label_rows(TIMES, [WINDOW])
    scores = scores_with({20: 0.6, 41: 0.9, 70: 0.6, 80: 0.3})
    threshold, total = best_threshold([(labelled, scores)], STANDARD)
    assert threshold == 0.9
    assert total == pytest.approx(scaled_sigmoid(-0.9) / MAX_TP)
    assert total == pytest.approx(raw_score(labelled, scores, threshold, STANDARD))


def test_sweep_fires_nowhere_when_every_detection_costs_more_than_it_earns() -> None:
    labelled = label_rows(TIMES, [WINDOW])
    scores = scores_with({i: 1.0 for i in range(16, 40)} | {49: 1.0})  # 24 early FPs, then a late hit
    threshold, total = best_threshold([(labelled, scores)], STANDARD)
    assert threshold > 1.0
    assert total == -1.0


def test_normalised_score_is_zero_for_null_and_100_for_perfect() -> None:
    result = {"f.csv": (TIMES, scores_with({40: 1.0}))}
    (standard,) = score_corpus(result, {"f.csv": [WINDOW]}, (STANDARD,))
    assert (standard.null, standard.perfect, standard.normalised) == (-1.0, 1.0, 100.0)
    (never,) = score_corpus({"f.csv": (TIMES, scores_with({}))}, {"f.csv": [WINDOW]}, (STANDARD,))
    assert never.normalised == 0.0
    assert normalise(0.0, -1.0, 1.0) == 50.0


def test_windows_are_scored_per_file_and_a_fixed_threshold_is_replayed() -> None:
    results = {"a.csv": (TIMES, scores_with({40: 0.8})), "b.csv": (TIMES, scores_with({45: 0.7, 90: 0.9}))}
    windows = {"a.csv": [WINDOW], "b.csv": [WINDOW]}
    (fixed,) = score_corpus(results, windows, (STANDARD,), thresholds={"standard": 0.75})
    assert fixed.per_file == pytest.approx({"a.csv": 1.0, "b.csv": -1.0 + 0.11 * scaled_sigmoid(41 / 9)})
    assert fixed.raw == pytest.approx(sum(fixed.per_file.values()))
    assert (fixed.null, fixed.perfect) == (-2.0, 2.0)


def test_mismatched_lengths_and_unlabelled_files_are_named() -> None:
    with pytest.raises(ValueError, match=r"f\.csv: 100 timestamps but 3 scores"):
        score_corpus({"f.csv": (TIMES, [0.0, 0.0, 0.0])}, {"f.csv": []})
    with pytest.raises(ValueError, match=r"no labelled windows for 'g\.csv'"):
        score_corpus({"g.csv": (TIMES, scores_with({}))}, {"f.csv": []})
