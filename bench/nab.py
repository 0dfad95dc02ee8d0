"""NAB benchmark: every shipped method over the whole corpus, next to the published scoreboard (`make bench`).

`python bench/nab.py` streams the corpus through each method's shipped parameters, scores the three profiles
and prints the table with rows per second. `--tune` instead tries a small grid per method (one parameter set
for the whole corpus, never per file) and prints each set's standard score. Needs the corpus at
../shared/data/nab (or $CEP_NAB_DATA); skipped with a note when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.nab.corpus import Corpus, CorpusError, default_root, parse_time
from services.common.nab.runner import SHIPPED, MethodParams, stream_scores
from services.common.nab.scorer import PROFILES, ProfileScore, score_corpus

DAY = 86400.0
GRID: dict[str, list[dict[str, object]]] = {
    "zscore": [
        {"window_seconds": w, "min_baseline": b} for w in (None, 1 * DAY, 3 * DAY, 7 * DAY, 1e12) for b in (20, 100)
    ],
    "iqr": [
        {"window_seconds": w, "min_baseline": b} for w in (None, 1 * DAY, 3 * DAY, 7 * DAY, 1e12) for b in (20, 100)
    ],
    "ema": [{"ema_alpha": a, "min_baseline": b} for a in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3) for b in (20, 100)],
}


def evaluate(corpus: Corpus, params: MethodParams, profiles: tuple[str, ...]) -> tuple[list[ProfileScore], float]:
    """Score one parameter set over the whole corpus; also the detector's rows per second."""
    results, rows, seconds = {}, 0, 0.0
    for name in corpus.names():
        series = corpus.series(name)
        started = time.perf_counter()
        scores = stream_scores(series, params)
        seconds += time.perf_counter() - started
        rows += len(scores)
        results[name] = ([parse_time(s) for s in series.timestamps], scores)
    return score_corpus(results, corpus.windows(), tuple(PROFILES[p] for p in profiles)), rows / seconds


def published(corpus: Corpus) -> dict[str, dict[str, float]]:
    path = corpus.root / "published_scores" / "final_results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="try the parameter grid (standard profile)")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    try:
        corpus = Corpus(args.data or default_root())
    except CorpusError as exc:
        print(f"nab bench skipped: {exc}")
        return 0
    if args.tune:
        for method, grid in GRID.items():
            for overrides in grid:
                params = replace(SHIPPED[method], **overrides)  # type: ignore[arg-type]
                (standard,), speed = evaluate(corpus, params, ("standard",))
                print(f"{params.describe():60} standard {standard.normalised:6.2f}  {speed:,.0f} rows/s", flush=True)
        return 0
    board = published(corpus)
    print(f"{'NAB':30} {'standard':>9} {'low_FP':>9} {'low_FN':>9} {'rows/s':>10}")
    for method, params in SHIPPED.items():
        scores, speed = evaluate(corpus, params, tuple(PROFILES))
        cells = " ".join(f"{s.normalised:9.2f}" for s in scores)
        print(f"{method:30} {cells} {speed:10,.0f}   ({params.describe()})", flush=True)
    for name in ("numenta", "windowedGaussian"):
        if name in board:
            cells = " ".join(f"{board[name][p]:9.2f}" for p in PROFILES)
            print(f"{name + ' (published)':30} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
