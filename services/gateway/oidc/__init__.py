"""OIDC sign-in for the web UI: the provider's claims mapped to a tenant and role, kept in an encrypted cookie.

`claim_mapping.py` is pure; `oidc_settings.py` holds `CEP_OIDC_*`; `web_session.py` seals the session and the
sign-in transaction and checks CSRF tokens; `provider.py` talks to the OpenID provider (Authlib, joserfc);
`routes.py` serves /cep/auth/oidc/login, /callback, /cep/auth/session and /cep/auth/logout (docs/auth.md).
"""
