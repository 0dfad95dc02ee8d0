"""An anomaly rule's baselines and latest verdicts, asked of the evaluator over gRPC (`cep.v1.Evaluator`).

`fetch_anomaly_status` is what the anomaly-status route answers and what team policies check ("anomaly
baselines ready" before activation). The rule is looked up in SQL first, so another tenant's rule is a
404 before the evaluator is asked; the evaluator checks the tenant again on its side.
"""

from __future__ import annotations

import json
import math
from typing import Any

import grpc

from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.gateway.rest.problems import Problem, not_found
from services.gateway.state import GatewayState
from services.gateway.store import rules as store

STATUS_TIMEOUT_SECONDS = 8.0  # the driver gives its shard 5 s; the rest is the channel's connect


async def fetch_anomaly_status(state: GatewayState, tenant: str, rule_id: str) -> dict[str, Any]:
    """The contract's anomaly status of one of the tenant's rules, with `detection` and `reason` added.

    Raises a problem: 404 for a rule the tenant does not have, 409 for a rule that is not an anomaly rule,
    503 (with the reason) when the evaluator cannot be reached or its shard does not answer. A rule that is
    stored but not yet held by its shard (just created) answers `ready: false` with that reason.
    """
    async with state.db.read() as session:
        row = await store.get_rule(session, tenant, rule_id)
    if row is None:
        raise not_found(f"rule {rule_id!r}")
    if row.trigger_type != "anomaly":
        raise Problem(409, f"rule {rule_id!r} is a {row.trigger_type} rule, not an anomaly rule", kind="not-anomaly")
    target = state.settings.evaluator_grpc
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = evaluator_pb2_grpc.EvaluatorStub(channel)
            request = evaluator_pb2.AnomalyStatusRequest(tenant=tenant, rule_id=rule_id)
            reply = await stub.AnomalyStatus(request, timeout=STATUS_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as exc:
        method = (row.spec.get("trigger_spec") or {}).get("anomaly_method")
        return _on_error(exc, rule_id, method, row.active)
    status: dict[str, Any] = _finite(json.loads(reply.status_json))
    status.pop("tenant", None)
    return status


def _on_error(exc: grpc.aio.AioRpcError, rule_id: str, method: str | None, active: bool) -> dict[str, Any]:
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:  # stored, but its shard has not applied the change yet
        return {
            "rule_id": rule_id,
            "method": method,
            "active": active,
            "ready": False,
            "detection": "disabled",
            "reason": "the evaluator does not hold this rule yet (just created); anomaly detection disabled",
            "keys": {},
        }
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        raise Problem(409, exc.details() or "not an anomaly rule", kind="not-anomaly")
    detail = f"the evaluator is unreachable ({code.name}: {exc.details()}); retry shortly"
    raise Problem(503, detail, kind="unavailable", headers={"Retry-After": "1"})


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such statistics are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
