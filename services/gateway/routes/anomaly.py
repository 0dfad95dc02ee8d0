"""Anomaly routes of a stored rule: its baselines and latest verdicts (from the evaluator), its measured precision."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.gateway.anomaly_status import fetch_anomaly_status
from services.gateway.auth import Principal, viewer
from services.gateway.rest.problems import not_found
from services.gateway.schemas.anomaly import AnomalyStatus, RulePrecisionOut
from services.gateway.state import state_of
from services.gateway.store import rules as rule_store
from services.gateway.store.feedback import rule_precision

router = APIRouter(tags=["rules"])
_STATUS: dict[int | str, dict[str, Any]] = {
    200: {"model": AnomalyStatus, "description": "baselines and latest verdicts per group key"},
    409: {"description": "the rule is not an anomaly rule"},
    503: {"description": "the evaluator is unreachable"},
}
_PRECISION: dict[int | str, dict[str, Any]] = {200: {"model": RulePrecisionOut, "description": "the rule's precision"}}


@router.get("/cep/rules/{rule_id}/anomaly-status", responses=_STATUS)
async def anomaly_status(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Per group key: the baseline (ready, samples, required, statistics) and the last value's score and verdict.

    Detection stays disabled below `min_baseline` samples (`reason`: `learning: 12 of 30 samples`), also while
    the rule is inactive: an inactive anomaly rule learns its baselines but never fires.
    """
    return JSONResponse(await fetch_anomaly_status(state_of(request), principal.tenant, rule_id))


@router.get("/cep/rules/{rule_id}/precision", responses=_PRECISION)
async def precision(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Measured precision from event feedback: true positives / labelled events (null while none is labelled)."""
    async with state_of(request).db.read() as session:
        if await rule_store.get_rule(session, principal.tenant, rule_id) is None:
            raise not_found(f"rule {rule_id!r}")
        figures = await rule_precision(session, principal.tenant, [rule_id])
    return JSONResponse(figures[rule_id].as_dict())
