"""`python -m bench.pipeline [--scale full|medium|tiny] [--out FILE] [--docs FILE|--no-docs]
[--engine-only | --tracing-only]`.

`make bench` runs it without either switch. With `--engine-only`, only the in-memory engine figures are measured
(the engine and the one-process peer, no stack; `--events N` for `engine_eps`), written as JSON to `--out`
(default `bench/results/engine.json`). With `--tracing-only`, only the capacity with tracing off and on (default
`bench/results/tracing.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from bench.pipeline import report
from bench.pipeline.run import engine_only, machine, run
from bench.pipeline.scales import SCALES
from bench.pipeline.tracing_cost import tracing_cost

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: bench/results/latest.json (engine.json, tracing.json)"
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument(
        "--tracing-only", action="store_true", help="only the capacity with tracing off and on (JSON to --out)"
    )
    parser.add_argument("--engine-only", action="store_true", help="only the in-memory engine against the peer")
    parser.add_argument("--events", type=int, default=None, help="with --engine-only: events for engine_eps")
    args = parser.parse_args()
    if args.tracing_only:
        return tracing_only(args.scale, args.out or ROOT / "bench" / "results" / "tracing.json")
    if args.engine_only:
        out = args.out or ROOT / "bench" / "results" / "engine.json"
        with tempfile.TemporaryDirectory(prefix="cep-bench-") as workdir:
            figures = engine_only(SCALES[args.scale], Path(workdir), lambda line: print(line, flush=True), args.events)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"engine_eps {figures['engine_eps']}, ratio_engine_vs_bytewax {figures['ratio_engine_vs_bytewax']}")
        print(f"written: {out}")
        return 0
    args.out = args.out or ROOT / "bench" / "results" / "latest.json"
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as workdir:
        result = asyncio.run(run(SCALES[args.scale], Path(workdir), log=lambda line: print(line, flush=True)))
    report.write_json(result, args.out)
    if not args.no_docs:
        report.update_docs(result, args.docs)
    print(report.summary(result))
    print(f"written: {args.out}" + ("" if args.no_docs else f", {args.docs}"))
    return 0


def tracing_only(scale: str, out: Path) -> int:
    """The tracing part alone (docs/tracing.md): two stacks, tracing off then on, their capacity and ratio."""
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as workdir:
        result = {
            "scale": scale,
            "machine": machine(),
            "tracing": asyncio.run(tracing_cost(SCALES[scale], Path(workdir))),
        }
    report.write_json(result, out)
    print(json.dumps(result["tracing"], indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
