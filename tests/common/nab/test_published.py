"""The scorer, fed NAB's published detector results, reproduces NAB's published scoreboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.nab.corpus import Corpus, CorpusError, default_root
from services.common.nab.result_files import load_results, score_results
from services.common.nab.scorer import PROFILES, score_corpus


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    try:
        return Corpus(default_root())
    except CorpusError as exc:
        pytest.skip(f"the NAB corpus is not on this machine: {exc}")


def board(corpus: Corpus, name: str) -> dict[str, Any]:
    return json.loads((corpus.root / "published_scores" / name).read_text())


@pytest.mark.parametrize(
    ("detector", "standard"),
    # A second detector's board, scored the same way: `make test-slow`.
    [pytest.param("windowedGaussian", 39.6, marks=pytest.mark.slow), ("numenta", 70.1)],
)
def test_published_results_score_as_published_under_every_profile(
    corpus: Corpus, detector: str, standard: float
) -> None:
    scores = {s.profile: s.normalised for s in score_results(corpus, corpus.root / "published_scores" / detector)}
    published = board(corpus, "final_results.json")[detector]
    assert scores["standard"] == pytest.approx(standard, abs=0.1)
    for profile in PROFILES:
        # NAB's own threshold search is a local climb; our exact sweep can only do as well or better.
        assert scores[profile] == pytest.approx(published[profile], abs=0.1)
        assert scores[profile] >= published[profile] - 1e-6


def test_numenta_at_nabs_own_thresholds_gives_the_published_numbers_exactly(corpus: Corpus) -> None:
    results = load_results(corpus, corpus.root / "published_scores" / "numenta")
    chosen = {p: v["threshold"] for p, v in board(corpus, "thresholds.json")["numenta"].items()}
    scores = score_corpus(results, corpus.windows(), tuple(PROFILES.values()), thresholds=chosen)
    published = board(corpus, "final_results.json")["numenta"]
    for s in scores:
        assert s.normalised == pytest.approx(published[s.profile], abs=1e-6)
        assert s.raw == pytest.approx(board(corpus, "thresholds.json")["numenta"][s.profile]["score"], abs=1e-6)


def test_a_results_dir_with_a_shifted_timestamp_is_refused_naming_the_line(corpus: Corpus, tmp_path: Path) -> None:
    name = corpus.names()[0]
    original = (corpus.root / "published_scores" / "numenta" / name).read_text()
    source = original.splitlines()
    source[5] = "1999-01-01 00:00:00," + source[5].split(",")[1]
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_text("\n".join(source) + "\n")
    with pytest.raises(CorpusError, match="line 6: timestamp '1999-01-01 00:00:00'"):
        load_results(corpus, tmp_path, partial=True)
    (tmp_path / name).write_text(original)
    assert list(load_results(corpus, tmp_path, partial=True)) == [name]
    with pytest.raises(CorpusError, match="57 of 58 result files missing"):
        load_results(corpus, tmp_path)
