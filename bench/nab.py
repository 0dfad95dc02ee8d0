"""NAB benchmark: every shipped method over the whole corpus, next to the published scoreboard (`make bench`).

`python bench/nab.py` streams the corpus through each method's shipped parameters, scores the three profiles
and prints the table with rows per second and the refit cost per 1,000 samples (the seconds spent fitting
models, for the methods that refit). `--tune` instead tries a small grid per method (one parameter set for the
whole corpus, never per file) and prints each set's standard score; `--methods` picks methods. Needs the corpus
at ../shared/data/nab (or $CEP_NAB_DATA); skipped with a note when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.nab.corpus import Corpus, CorpusError, default_root, parse_time
from services.common.nab.detector_runner import SHIPPED, MethodParams, RefitTimer, stream_scores
from services.common.nab.scorer import PROFILES, ProfileScore, score_corpus

DAY = 86400.0
GRID: dict[str, list[dict[str, Any]]] = {
    "zscore": [{"window_seconds": w, "min_baseline": b} for w in (None, 3 * DAY, 1e12) for b in (20, 100)],
    "iqr": [{"window_seconds": w} for w in (None, 3 * DAY, 1e12)],
    "ema": [{"ema_alpha": a} for a in (0.001, 0.003, 0.01, 0.03, 0.3)],
    "multiscale": [
        {"baseline_span": b, "record_span": r, "rest_span": s, "season_seconds": d}
        for b, r, s, d in (
            (2000, 2000, 100, DAY),
            (2000, 2000, 100, 0),
            (2000, 2000, 70, DAY),
            (2000, 3000, 100, DAY),
            (2000, 2000, 100, 7 * DAY),
        )
    ],
    "contextual": [{"season_seconds": d} for d in (DAY, 0)],
    "hbos": [{"training_window": w, "refit_every": e} for w, e in ((1000, 250), (500, 250), (2000, 500))],
}


def evaluate(
    corpus: Corpus, params: MethodParams, profiles: tuple[str, ...]
) -> tuple[list[ProfileScore], float, float]:
    """Score one parameter set over the whole corpus; also rows per second and refit seconds per 1,000 rows."""
    results, rows, seconds, refits = {}, 0, 0.0, RefitTimer()
    for name in corpus.names():
        series = corpus.series(name)
        started = time.perf_counter()
        scores = stream_scores(series, params, refits)
        seconds += time.perf_counter() - started
        rows += len(scores)
        results[name] = ([parse_time(s) for s in series.timestamps], scores)
    scored = score_corpus(results, corpus.windows(), tuple(PROFILES[p] for p in profiles))
    return scored, rows / seconds, 1000 * refits.seconds / rows


def published(corpus: Corpus) -> dict[str, dict[str, float]]:
    path = corpus.root / "published_scores" / "final_results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def tuned(method: str, overrides: dict[str, Any]) -> MethodParams:
    base = SHIPPED[method]
    fields = {k: v for k, v in overrides.items() if k in ("threshold", "min_baseline", "window_seconds")}
    options = {k: v for k, v in overrides.items() if k not in fields}
    return replace(base, **fields).with_options(**options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="try the parameter grid (standard profile)")
    parser.add_argument("--methods", nargs="+", choices=sorted(SHIPPED), default=list(SHIPPED))
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    try:
        corpus = Corpus(args.data or default_root())
    except CorpusError as exc:
        print(f"nab bench skipped: {exc}")
        return 0
    if args.tune:
        for method in args.methods:
            for overrides in GRID[method]:
                params = tuned(method, overrides)
                (standard,), speed, _ = evaluate(corpus, params, ("standard",))
                print(f"{params.describe():70} standard {standard.normalised:6.2f}  {speed:,.0f} rows/s", flush=True)
        return 0
    board = published(corpus)
    print(f"{'NAB':12} {'standard':>9} {'low_FP':>9} {'low_FN':>9} {'rows/s':>10} {'refit s/1k':>10}")
    for method in args.methods:
        params = SHIPPED[method]
        scores, speed, refit = evaluate(corpus, params, tuple(PROFILES))
        cells = " ".join(f"{s.normalised:9.2f}" for s in scores)
        print(f"{method:12} {cells} {speed:10,.0f} {refit:10.4f}   ({params.describe()})", flush=True)
    for name in ("numenta", "windowedGaussian"):
        if name in board:
            cells = " ".join(f"{board[name][p]:9.2f}" for p in PROFILES)
            print(f"{name + ' (published)':30} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
