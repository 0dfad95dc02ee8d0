"""The UI's page routes (one shared layout and nav) and its static files under /ui/static."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
STATIC_URL = "/ui/static"
# What the layout shows about signing in, from the request (OIDC sign-in: services/gateway/oidc/routes.py).
ShellContext: TypeAlias = Callable[[Request], Mapping[str, Any]]


@dataclass(frozen=True)
class Page:
    """One UI page: its path, its template under templates/, and its title (also the nav label)."""

    path: str
    template: str
    title: str


# The nav shows the pages in this order. A new page: add it here and add its template.
PAGES: tuple[Page, ...] = (
    Page("/cep-builder", "builder.html", "Rules"),
    Page("/cep-events", "events.html", "Events"),
    Page("/cep-silences", "silences.html", "Silences"),
    Page("/cep-inhibit-rules", "inhibit-rules.html", "Inhibition"),
    Page("/cep-channels", "channels.html", "Channels"),
    Page("/cep-policies", "policies.html", "Policies"),
    Page("/cep-dashboard", "dashboard.html", "Dashboard"),
    Page("/cep-settings", "settings.html", "Settings"),
)

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), auto_reload=False
)


def render(page: Page, shell: Mapping[str, Any] | None = None) -> str:
    """The page's HTML: its template rendered with the nav, the current page, the static URL and `shell` (the
    sign-in part of the header: `sign_in`, `session`)."""
    context = {**(shell or {}), "page": page, "pages": PAGES, "static": STATIC_URL}
    return _templates.get_template(page.template).render(context)


def _page_route(page: Page, shell_context: ShellContext | None) -> Callable[[Request], Awaitable[HTMLResponse]]:
    async def show(request: Request) -> HTMLResponse:
        shell = shell_context(request) if shell_context is not None else {}
        headers = {"Cache-Control": "no-store"} if shell.get("session") else None  # it holds the CSRF token
        return HTMLResponse(render(page, shell), headers=headers)

    show.__name__ = "page_" + page.path.strip("/").replace("-", "_")
    show.__doc__ = f"The {page.title} page of the web UI (HTML; its data comes from the API with the user's token)."
    return show


def ui_router(shell_context: ShellContext | None = None) -> APIRouter:
    """A router with one GET route per page (HTML, no auth: the pages fetch their data with the user's token)."""
    router = APIRouter(tags=["ui"])
    for page in PAGES:
        router.add_api_route(
            page.path,
            _page_route(page, shell_context),
            methods=["GET"],
            response_class=HTMLResponse,
            responses={200: {"description": "the page", "content": {"text/html": {}}}},
        )
    return router


def install_ui(app: FastAPI, shell_context: ShellContext | None = None) -> None:
    """Serve the pages and the static files (/ui/static) from the gateway app."""
    app.include_router(ui_router(shell_context))
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="ui-static")
