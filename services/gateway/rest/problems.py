"""RFC 9457 problem details: the one error shape of the API, and the handlers that turn every failure into it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.common.db.outages import outage_reason
from services.common.domain.rules.errors import FieldError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
DB_RETRY_AFTER = 5  # seconds a client waits before retrying after a database outage (a restart, a failover)
_PARAM_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


class Problem(Exception):
    """An error answer: raise it anywhere in a request and the client gets `application/problem+json`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Iterable[FieldError] = (),
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.kind = kind
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: `type`, `title`, `status`, `detail`, `errors`."""
        return problem_body(self.status, self.detail, self.errors, kind=self.kind)


def problem_body(
    status: int, detail: str, errors: Sequence[FieldError] = (), *, kind: str | None = None
) -> dict[str, Any]:
    """Build a problem document; `kind` names a specific problem type (`validation`, `stale-version`)."""
    return {
        "type": f"urn:cep:problem:{kind}" if kind else "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "errors": [e.as_dict() for e in errors],
    }


def problem_response(problem: Problem) -> JSONResponse:
    """The HTTP response of a Problem."""
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def invalid(errors: Sequence[FieldError], prefix: Sequence[str | int] = ()) -> Problem:
    """A 422 naming every offending field path (optionally under a prefix such as `rule`)."""
    located = [FieldError((*prefix, *e.loc), e.msg) for e in errors]
    detail = "; ".join(f"{e.path or '(body)'}: {e.msg}" for e in located) or "invalid input"
    return Problem(422, detail, errors=located, kind="validation")


def invalid_field(loc: Sequence[str | int], msg: str) -> Problem:
    """A 422 for one field."""
    return invalid([FieldError(tuple(loc), msg)])


def malformed(detail: str) -> Problem:
    """A 400 for a body that is not JSON at all."""
    return Problem(400, detail, kind="malformed-json")


def not_found(what: str) -> Problem:
    """A 404 that says what was not found without saying whether it exists elsewhere."""
    return Problem(404, f"{what} not found", kind="not-found")


def stale(current: int, expected: int) -> Problem:
    """A 409 for an optimistic-concurrency miss."""
    return Problem(
        409,
        f"version {expected} is stale: the current version is {current}; re-read the resource and retry",
        errors=[FieldError(("version",), f"expected {current}")],
        kind="stale-version",
    )


def name_conflict(noun: str, name: str) -> Problem:
    """A 409 naming `name`: another live `noun` (rule, channel, ...) of the tenant already has it."""
    return Problem(
        409,
        f"a {noun} named {name!r} already exists in this tenant",
        errors=[FieldError(("name",), f"already used by another {noun}")],
        kind="name-conflict",
    )


def _strip_source(loc: Sequence[Any]) -> tuple[str | int, ...]:
    parts = [p if isinstance(p, int) else str(p) for p in loc]
    if parts and parts[0] in _PARAM_SOURCES:
        parts = parts[1:]
    return tuple(parts)


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_response(malformed("the request body is not valid JSON"))
    errors = [FieldError(_strip_source(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in raw]
    return problem_response(invalid(errors))


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route"
    elif exc.status_code == 405:
        detail = "method not allowed on this route"
    return problem_response(Problem(exc.status_code, detail, headers=exc.headers))


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    # Log everything for operators; tell the client nothing about internals.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(Problem(500, "internal error; the server log has the details", kind="internal"))


async def _on_database(request: Request, exc: Exception) -> JSONResponse:
    reason = outage_reason(exc)
    if reason is None:  # a bug in a query, or a conflict no route turned into a 409: on to the 500 of _on_crash
        raise exc
    log.warning("database unavailable on %s %s: %s (%s)", request.method, request.url.path, reason, type(exc).__name__)
    detail = f"the database is unavailable right now; retry after {DB_RETRY_AFTER} s"
    return problem_response(Problem(503, detail, kind="unavailable", headers={"Retry-After": str(DB_RETRY_AFTER)}))


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error (ours, FastAPI's validation, Starlette's 404/405, crashes) to problem+json."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(SQLAlchemyError, _on_database)  # an outage is a 503 with Retry-After, a bug a 500
    app.add_exception_handler(Exception, _on_crash)
