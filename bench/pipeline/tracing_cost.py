"""What tracing costs end to end: the product's capacity with tracing off, then on (OTLP/HTTP to a local receiver).

Each run starts its own `cep up` stack with the default shard count and measures its capacity (events evaluated
per second while publishing as fast as PubAcks come back, then drained) and checks its alerts against the reference.
Off: `OTEL_SDK_DISABLED=true`, whatever the caller's environment says. On: every service exports to a real OTLP/HTTP
receiver on this machine (it counts requests and bytes without decoding them, so it takes little of the CPU the
stack needs), with the SDK's default batch processor, and the producer sends a `traceparent` with each message,
so every event is carried with its context through the router, the shards and the notifier (docs/tracing.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.pipeline.product import run_product
from bench.pipeline.scales import Scale
from tests.support.otlp_receiver import otlp_receiver

SHARDS = 2  # the product's default CEP_SHARDS


async def tracing_cost(scale: Scale, workdir: Path) -> dict[str, Any]:
    """Capacity and alert checks with tracing off and on, and their ratio."""
    off = await run_product(scale, workdir, SHARDS, full=False, env={"OTEL_SDK_DISABLED": "true"})
    with otlp_receiver(decode=False) as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "NO_PROXY": "127.0.0.1,localhost"}
        on = await run_product(scale, workdir, SHARDS, full=False, env=env, traced=True)
        exported = {"otlp_requests": receiver.requests, "otlp_bytes": receiver.bytes}
    out: dict[str, Any] = {}
    for name, ran in (("off", off), ("on", on)):
        out[name] = {
            "capacity_eps": ran["capacity_eps"],
            "events_published": ran["events_published"],
            "alerts_match_reference": ran["alerts_match_reference"],
        }
    out["on"] |= exported
    out["on_vs_off"] = round(on["capacity_eps"] / off["capacity_eps"], 3) if off["capacity_eps"] else None
    return out
