"""The web UI served by the gateway: server-rendered page shells (Jinja2) and static files, no Node build.

Conventions (services/gateway/ui/README.md says more):
- A page is one entry in `pages.PAGES` (path, template, title) and one template under `templates/` that
  extends `layout.html` (shared header, nav, token form) and fills `{% block main %}` and `{% block scripts %}`.
- Browser code is plain ES modules under `static/`; `api.js` holds the shared helpers (token, fetch with the
  bearer token, problem+json display, SSE); each page has its own module (`builder.js`, ...).
- One stylesheet, `static/app.css`; its classes are listed at its top.
- Pages need no token to load; the data they fetch does (the token is asked for once and kept in localStorage).
"""

from services.gateway.ui.pages import install_ui

__all__ = ["install_ui"]
