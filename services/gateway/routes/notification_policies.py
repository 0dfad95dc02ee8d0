"""`/cep/notification-policies`: a tenant's routing tree on labels, versioned, audited, mirrored, and its tester.

One document per tenant (Alertmanager's `route`, `receivers` of the tenant's channels, `time_intervals`). Editors
replace or delete it (`version` or `If-Match` make the write conditional; 409 when stale, 0 asserts "none");
anyone of the tenant reads it, lists its versions and tests a label set against it or against a draft.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import NotificationPolicyRow
from services.common.domain.routing.policy_document import (
    NotificationPolicy,
    PolicyDocumentError,
    channel_refs,
    parse_policy,
)
from services.common.domain.routing.policy_tester import label_errors, route_labels
from services.common.domain.rules.errors import FieldError
from services.gateway.auth import Principal, editor, viewer
from services.gateway.rest.bodies import parse_model, read_json, read_object
from services.gateway.rest.merge import if_match_version
from services.gateway.rest.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from services.gateway.rest.problems import Problem, invalid, invalid_field, not_found, stale
from services.gateway.routes.versioned import Resource
from services.gateway.row_codec import rfc3339
from services.gateway.schemas.notification_policies import (
    Policy,
    PolicyBody,
    PolicyVersionList,
    RouteTestBody,
    RouteTestResult,
    policy_json,
    tester_json,
    version_json,
)
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import notification_policies as store

BASE = "/cep/notification-policies"
POLICY = Resource(noun="notification policy", short="policy", kind="notification_policy", base=BASE)
router = APIRouter(tags=["notification policies"])
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body the route reads itself (its nested models are components through the answers)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _none() -> Problem:
    return not_found("notification policy (the tenant has none: rules notify by their channel actions only)")


@router.get(BASE, responses={200: {"model": Policy, "description": "the tenant's policy in force"}})
async def get_policy(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The tenant's notification policy with its version; 404 when it has none."""
    async with state_of(request).db.read() as session:
        row = store.live(await store.get_policy(session, principal.tenant))
    if row is None:
        raise _none()
    return JSONResponse(policy_json(row), headers={"ETag": f'"{row.version}"'})


@router.put(BASE, openapi_extra=_body(PolicyBody), responses={200: {"model": Policy, "description": "the new version"}})
async def put_policy(request: Request, if_match: IfMatch = None, principal: Principal = Depends(editor)) -> Response:
    """Replace the tenant's policy (editor); `version` (0: none yet) or `If-Match` make it conditional."""
    data = await read_object(request)
    expected = _expected(data, if_match)
    policy = _parsed(request, data)
    tenant, now = principal.tenant, datetime.now(UTC)
    with _storing():
        async with state_of(request).db.write() as session:
            await _check_channels(session, tenant, policy, ())
            row = await store.get_policy(session, tenant)
            current = store.live(row)
            _check_expected(current, expected)
            if current is not None and current.document == policy.document:
                return JSONResponse(policy_json(current), headers={"ETag": f'"{current.version}"'})
            change = "created" if current is None else "replaced"
            values = {"document": policy.document, "deleted_at": None}
            saved = await _save(session, principal, row, values, now, change)
            before = current.document if current is not None else {}
            await _audit(session, principal, change, before, policy.document, row, saved, now)
    await POLICY.mirror(state_of(request).notification_policy_publisher, saved, tenant)
    return JSONResponse(policy_json(saved), headers={"ETag": f'"{saved.version}"'})


@router.delete(BASE, status_code=204, responses={204: {"description": "deleted: explicit channel actions only"}})
async def delete_policy(request: Request, if_match: IfMatch = None, principal: Principal = Depends(editor)) -> Response:
    """Delete the tenant's policy (editor or admin); rules then notify by their channel actions only."""
    data = await read_json(request) if await request.body() else None
    expected = _expected(data if isinstance(data, dict) else None, if_match)
    tenant, now = principal.tenant, datetime.now(UTC)
    with _storing():
        async with state_of(request).db.write() as session:
            row = await store.get_policy(session, tenant)
            current = store.live(row)
            if current is None:
                raise _none()
            _check_expected(current, expected)
            values = {"document": current.document, "deleted_at": now}
            saved = await _save(session, principal, row, values, now, "deleted")
            await _audit(session, principal, "deleted", current.document, {}, row, saved, now)
    await POLICY.mirror(state_of(request).notification_policy_publisher, saved, tenant)
    return Response(status_code=204)


@router.get(f"{BASE}/versions", responses={200: {"model": PolicyVersionList, "description": "newest first"}})
async def list_versions(
    request: Request, principal: Principal = Depends(viewer), limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """The policy's versions, newest first, each with its document (null for a delete)."""
    before = decode_cursor(cursor, (int,))[0] if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_versions(session, principal.tenant, limit, before)
    next_cursor = encode_cursor([rows[-1].version]) if len(rows) == limit else None
    return JSONResponse(Page([version_json(row) for row in rows], total, next_cursor).as_dict())


@router.post(
    f"{BASE}/test",
    openapi_extra=_body(RouteTestBody),
    responses={200: {"model": RouteTestResult, "description": "where the labels go"}},
)
async def test_routes(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Route a label set (like `amtool config routes test`) through the stored policy or a draft (`policy`)."""
    test = parse_model(RouteTestBody, await read_object(request))
    if errors := label_errors(test.labels):
        raise invalid(errors)
    at = test.at or datetime.now(UTC)
    async with state_of(request).db.read() as session:
        if test.policy is not None:
            policy, version = _parsed(request, test.policy, ("policy",)), None
            await _check_channels(session, principal.tenant, policy, ("policy",))
        else:
            row = store.live(await store.get_policy(session, principal.tenant))
            if row is None:
                raise _none()
            policy, version = _parsed(request, row.document), row.version
    result = tester_json(route_labels(policy, test.labels, at))
    return JSONResponse({**result, "at": rfc3339(at), "version": version})


@contextmanager
def _storing() -> Iterator[None]:
    """A lost race for the first version is a stale write (409); a failed write a 503 to retry."""
    try:
        yield
    except IntegrityError:
        raise stale(1, 0) from None
    except SQLAlchemyError as exc:
        raise POLICY.storage_problem(exc) from None


def _expected(data: dict[str, Any] | None, if_match: str | None) -> list[int]:
    """The versions the client asserted (`version` in the body, `If-Match`); 0 asserts "no policy yet"."""
    version = data.pop("version", None) if data is not None else None
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise invalid_field(("version",), "the version is an integer (the one you read; 0 when there is none)")
    return [v for v in (version, if_match_version(if_match)) if v is not None]


def _check_expected(current: NotificationPolicyRow | None, expected: list[int]) -> None:
    version = current.version if current is not None else 0
    for wanted in expected:
        if wanted != version:
            raise stale(version, wanted)


def _parsed(request: Request, data: Any, prefix: tuple[str | int, ...] = ()) -> NotificationPolicy:
    try:
        return parse_policy(data, state_of(request).settings.policy_limits)
    except PolicyDocumentError as exc:
        raise invalid(exc.errors, prefix) from None


async def _check_channels(
    session: AsyncSession, tenant: str, policy: NotificationPolicy, prefix: tuple[str | int, ...]
) -> None:
    """A 422 naming each receiver channel that is not a live channel of the tenant (by id or name)."""
    known = await store.channel_refs(session, tenant)
    errors = [
        FieldError(loc, f"no channel {ref!r} in this tenant (a channel id or name)")
        for loc, ref in channel_refs(policy)
        if ref not in known
    ]
    if errors:
        raise invalid(errors, prefix)


async def _save(
    session: AsyncSession,
    principal: Principal,
    row: NotificationPolicyRow | None,
    values: dict[str, Any],
    now: datetime,
    change: str,
) -> NotificationPolicyRow:
    read_version = row.version if row is not None else 0
    saved = await store.save_policy(session, principal.tenant, values, read_version, principal, now, change)
    if saved is None:
        raise stale(read_version + 1, read_version)
    return saved


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    row: NotificationPolicyRow | None,
    saved: NotificationPolicyRow,
    now: datetime,
) -> None:
    change: dict[str, Any] = {f"policy.{k}": v for k, v in audit.diff(before, after).items()}
    change["version"] = {"before": row.version if row is not None else 0, "after": saved.version}
    await POLICY.audit(session, principal, (principal.tenant, "policy"), action, change, now)
