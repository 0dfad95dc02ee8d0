"""`python -m bench.pipeline [--scale full|medium|tiny] [--out FILE] [--docs FILE|--no-docs] [--tracing-only]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from bench.pipeline import report
from bench.pipeline.run import machine, run
from bench.pipeline.scales import SCALES
from bench.pipeline.tracing_cost import tracing_cost

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument(
        "--tracing-only", action="store_true", help="only the capacity with tracing off and on (JSON to --out)"
    )
    args = parser.parse_args()
    if args.tracing_only:
        return tracing_only(args.scale, args.out)
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
