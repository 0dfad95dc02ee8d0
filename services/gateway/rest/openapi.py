"""The OpenAPI 3.1 document: FastAPI's, plus the bodies of manually parsed routes and problem responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import Route

from services.gateway.rest.problems import PROBLEM_MEDIA_TYPE
from services.gateway.schemas.core import DOCUMENTED

_PREFIX = "#/components/schemas/"
_PROBLEM = {"$ref": f"{_PREFIX}ProblemDetails"}


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A JSON reference to a documented model (see schemas.DOCUMENTED)."""
    return {"$ref": f"{_PREFIX}{model.__name__}"}


def body(model: type[BaseModel], *, media_types: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    """`openapi_extra` describing the JSON request body of a route that reads it itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": ref(model)} for media in media_types},
        }
    }


def reply(status: int, model: type[BaseModel] | None, description: str) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry for a JSON answer (or an empty one when `model` is None)."""
    entry: dict[str, Any] = {"description": description}
    if model is not None:
        entry["content"] = {"application/json": {"schema": ref(model)}}
    return {status: entry}


def _component_schemas() -> dict[str, Any]:
    mapping, top = models_json_schema(DOCUMENTED, ref_template=_PREFIX + "{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    for (model, _mode), reference in mapping.items():
        name = reference["$ref"].removeprefix(_PREFIX)
        if name != model.__name__:  # pydantic disambiguated it: keep the plain name resolvable
            schemas.setdefault(model.__name__, {"$ref": reference["$ref"]})
    return schemas


def _add_plain_routes(app: FastAPI, paths: dict[str, Any]) -> None:
    # Routes added without FastAPI (plain Starlette) still belong in the document.
    for route in app.routes:
        if isinstance(route, Route) and not hasattr(route, "response_model") and route.include_in_schema:
            item = paths.setdefault(route.path, {})
            for method in sorted((route.methods or set()) - {"HEAD"}):
                item.setdefault(method.lower(), {"summary": route.name, "responses": {"200": {"description": "OK"}}})


def _problem_responses(paths: dict[str, Any]) -> None:
    problem = {"description": "problem details", "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM}}}
    for item in paths.values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {**problem, "description": "invalid input, naming each field"}
            responses.setdefault("default", problem)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Generate the document for an app's routes (cached on the app by `install_openapi`)."""
    doc = get_openapi(
        title=app.title, version=app.version, openapi_version="3.1.0", description=app.description, routes=app.routes
    )
    paths = doc.setdefault("paths", {})
    _add_plain_routes(app, paths)
    _problem_responses(paths)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_component_schemas())
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi` at /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
