"""Settings of OIDC sign-in for the web UI (`CEP_OIDC_*`); sign-in is on when `CEP_OIDC_ISSUER` is set.

docs/auth.md explains each one. Bad values stop the gateway at start with the variable's name, never its value.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.gateway.oidc.claim_mapping import ClaimMapping, Role, parse_role_map
from services.gateway.schemas.core import TENANT_PATTERN


class OidcSettings(BaseSettings):
    """The OpenID provider, the client registered there, the claim mapping, and the browser session."""

    model_config = SettingsConfigDict(env_prefix="CEP_OIDC_", extra="ignore", hide_input_in_errors=True)

    issuer: str | None = None  # the provider's issuer URL; its /.well-known/openid-configuration is read
    client_id: str | None = None
    client_secret: SecretStr | None = None  # unset: a public client (PKCE only, token_endpoint_auth_method none)
    redirect_url: str | None = None  # unset: <the request's base URL>/cep/auth/oidc/callback
    scopes: str = "openid profile email"
    tenant_claim: str = "cep_tenant"
    tenant: str | None = None  # a fixed tenant for every user: the tenant claim is then not read
    role_claim: str = "groups"
    role_map: str = ""  # `value:role,...`; empty: the claim's values `viewer`, `editor`, `admin` are taken as-is
    default_role: Role | None = None  # unset: a user whose claim maps to no role is refused
    name_claim: str = "preferred_username"
    cookie_secure: bool = True  # false only for plain-http development and tests
    session_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)  # a session's lifetime
    login_seconds: int = Field(default=600, ge=30, le=3600)  # how long a started sign-in may take at the provider
    session_key: SecretStr | None = None  # unset: a key generated once in the state dir (oidc-session.key)
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=60)  # each call to the provider
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)  # leeway for the id token's exp/iat

    @field_validator("role_map")
    @classmethod
    def _role_map_parses(cls, value: str) -> str:
        parse_role_map(value)
        return value

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, value: str | None) -> str | None:
        if value and not TENANT_PATTERN.match(value):
            raise ValueError("CEP_OIDC_TENANT must be a tenant name: 1 to 63 characters of a-z, 0-9 and '-'")
        return value or None

    @model_validator(mode="after")
    def _client_named(self) -> Self:
        if self.issuer and not self.client_id:
            raise ValueError("CEP_OIDC_CLIENT_ID is required when CEP_OIDC_ISSUER is set")
        if self.issuer and "openid" not in self.scopes.split():
            raise ValueError("CEP_OIDC_SCOPES must include 'openid'")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the web UI signs in through the provider (else it keeps the token-paste field)."""
        return bool(self.issuer)

    @property
    def mapping(self) -> ClaimMapping:
        """The claim mapping these settings describe."""
        return ClaimMapping(
            tenant_claim=self.tenant_claim,
            fixed_tenant=self.tenant,
            role_claim=self.role_claim,
            role_map=parse_role_map(self.role_map),
            default_role=self.default_role,
            name_claim=self.name_claim,
        )
