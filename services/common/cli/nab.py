"""`cep nab run` and `cep nab score`: the NAB benchmark over the evaluator's streaming detectors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.common.nab.corpus import Corpus, CorpusError, default_root
from services.common.nab.detector_runner import SHIPPED, run_method
from services.common.nab.result_files import detector_dirs, format_table, score_results


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    nab = commands.add_parser("nab", help="the Numenta Anomaly Benchmark: run the shipped detectors, score results")
    actions = nab.add_subparsers(dest="nab_command", required=True)
    run = actions.add_parser("run", help="stream the corpus through the detectors and write timestamp,anomaly_score")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every shipped method, into OUT/<method>/<category>/")
    which.add_argument("--method", choices=sorted(SHIPPED), help="one method, into OUT/<category>/")
    run.add_argument("--out", type=Path, required=True, help="the results folder")
    run.add_argument("--files", nargs="+", metavar="CATEGORY/FILE.csv", help="only these corpus files")
    run.add_argument("--limit", type=int, help="only the first N corpus files (sorted by name)")
    score = actions.add_parser("score", help="print the normalised standard, reward_low_FP and reward_low_FN scores")
    score.add_argument("results", type=Path, help="a results folder (<category>/...) or a `run --all` folder")
    score.add_argument("--partial", action="store_true", help="score only the files present (default: all required)")
    for sub in (run, score):
        sub.add_argument(
            "--data", type=Path, default=None, help="the NAB corpus root (default $CEP_NAB_DATA or ../shared/data/nab)"
        )


def main(args: argparse.Namespace) -> int:
    try:
        corpus = Corpus(args.data or default_root())
        if args.nab_command == "run":
            return _run(corpus, args)
        rows = [
            (name, score_results(corpus, path, partial=args.partial))
            for name, path in detector_dirs(corpus, args.results).items()
        ]
    except CorpusError as exc:
        print(f"cep nab: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


def _run(corpus: Corpus, args: argparse.Namespace) -> int:
    names = corpus.names()
    if args.files:
        unknown = sorted(set(args.files) - set(names))
        if unknown:
            raise CorpusError(f"--files: not in the corpus: {', '.join(unknown)}")
        names = [n for n in names if n in set(args.files)]
    if args.limit is not None:
        if args.limit < 1:
            raise CorpusError(f"--limit must be at least 1, got {args.limit}")
        names = names[: args.limit]
    methods = sorted(SHIPPED) if args.all else [args.method]
    for method in methods:
        out = args.out / method if args.all else args.out
        stats = run_method(corpus, SHIPPED[method], out, names)
        cost = f"{stats.rows_per_second:,.0f} rows/s, refits {stats.refit_per_1000:.4f} s per 1,000 rows"
        print(f"{method}: {stats.files} files, {stats.rows} rows, {cost} -> {out}", flush=True)
    return 0
