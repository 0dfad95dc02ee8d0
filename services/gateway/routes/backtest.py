"""`POST /cep/rules/backtest`: a draft rule, or several parameter sets of it, over a series or stored events.

The work is `services/common/domain/anomaly/backtest.py` (the evaluator's engine, through simulate); this route
validates the variants, gathers the samples and runs it off the event loop. Nothing is stored or sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.common.domain.anomaly import backtest as domain
from services.common.domain.events.model import event_time
from services.common.domain.rules.model import RuleSpec
from services.gateway.auth import Principal, viewer
from services.gateway.rest.merge import merge_patch
from services.gateway.rest.problems import invalid_field
from services.gateway.rule_changes import validate
from services.gateway.schemas.anomaly import BacktestBody, BacktestReport, SeriesPoint
from services.gateway.state import state_of
from services.gateway.stored_events import TooManyEvents, read_stored_events

router = APIRouter(tags=["rules"])
_REPLY: dict[int | str, dict[str, Any]] = {200: {"model": BacktestReport, "description": "one report per variant"}}


@router.post("/cep/rules/backtest", responses=_REPLY)
async def backtest_rule(request: Request, body: BacktestBody, principal: Principal = Depends(viewer)) -> Response:
    """Replay a series (or the tenant's stored events of `since`..`until`) through each variant of a draft rule:
    flagged samples, firings, score distribution and, with labels, precision, recall and false-positive ratio."""
    now = datetime.now(UTC)
    variants = _variants(body)
    if body.series is not None and body.since is not None:
        raise invalid_field(("since",), "give either series or since/until, not both")
    if body.series is not None:
        points, source = _series_points(variants[0].spec, body.series, now), "series"
    elif body.since is not None:
        points, source = await _stored_points(request, principal.tenant, variants[0].spec, body, now), "events"
    else:
        raise invalid_field(("series",), "required: a series of samples, or since (and until) for stored events")
    if len(points) * len(variants) > domain.MAX_EVALUATIONS:
        detail = f"{len(points)} samples x {len(variants)} variants is over {domain.MAX_EVALUATIONS} evaluations"
        raise invalid_field(("variants",) if len(variants) > 1 else ("series" if body.series else "since",), detail)
    report = await asyncio.to_thread(domain.backtest, variants, points, now, principal.tenant)
    return JSONResponse({"source": source, **report})


def _variants(body: BacktestBody) -> list[domain.Variant]:
    """Each variant merged over the rule; without variants, the rule alone (named `base`). The first variant's
    value path is where a series' bare values go and which stored events count."""
    base = validate(body.rule, prefix=("rule",))
    if not body.variants:
        return [domain.Variant("base", base)]
    out = []
    for index, variant in enumerate(body.variants):
        patch: dict[str, Any] = {"trigger_spec": variant.trigger_spec}
        if variant.conditions is not None:
            patch["conditions"] = variant.conditions
        spec = validate(merge_patch(body.rule, patch), prefix=("variants", index))
        out.append(domain.Variant(variant.name, spec))
    return out


def _series_points(spec: RuleSpec, series: list[SeriesPoint], now: datetime) -> list[domain.Point]:
    """The supplied samples as points; without timestamps they are a second apart, the last one a second ago."""
    path = domain.value_path(spec)
    start = now - timedelta(seconds=len(series))
    points = []
    for index, item in enumerate(series):
        default = start + timedelta(seconds=index)
        try:
            at = default if item.timestamp is None else event_time({"timestamp": item.timestamp}, default)
        except ValueError as exc:
            raise invalid_field(("series", index, "timestamp"), str(exc)) from None
        try:
            points.append(domain.series_point(path, item.value, item.payload, at, item.label))
        except ValueError as exc:
            raise invalid_field(("series", index, "value"), str(exc)) from None
    return points


async def _stored_points(
    request: Request, tenant: str, spec: RuleSpec, body: BacktestBody, now: datetime
) -> list[domain.Point]:
    since, until = _utc(body.since), _utc(body.until) or now
    assert since is not None
    if until <= since:
        raise invalid_field(("until",), "until must be after since")
    try:
        stored = await read_stored_events(state_of(request).bus, tenant, since, until, domain.MAX_SAMPLES * 4)
    except TooManyEvents:
        raise invalid_field(("since",), "the range holds too many events: narrow since/until") from None
    points = []
    for event in stored:
        if domain.observes(spec, event.payload, event.event_type):
            payload = {**event.payload, "timestamp": event.time.isoformat()}
            if event.event_type is not None:
                payload["event_type"] = event.event_type
            points.append(domain.Point(payload))
    if len(points) > domain.MAX_SAMPLES:
        detail = f"the range holds {len(points)} samples for this rule, over {domain.MAX_SAMPLES}: narrow it"
        raise invalid_field(("since",), detail)
    return points


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
