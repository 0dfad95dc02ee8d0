"""From an OpenID provider's claims to a CEP tenant and role: pure functions, no I/O, no clock.

The tenant is a fixed one (`CEP_OIDC_TENANT`) or the value of one claim (`CEP_OIDC_TENANT_CLAIM`), which must be
a tenant name (`[a-z0-9-]{1,63}`). The role comes from the values of one claim (`CEP_OIDC_ROLE_CLAIM`, typically
`groups`) through `CEP_OIDC_ROLE_MAP` (`cep-admins:admin,cep-editors:editor`); the highest mapped role wins. When no
value maps, the sign-in is refused unless `CEP_OIDC_DEFAULT_ROLE` names a role to give instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

from services.gateway.schemas.core import TENANT_PATTERN

# The roles of services/gateway/auth.py, in order (a test holds them equal): this module stays free of the
# gateway's request machinery, which the settings that parse a role map cannot import.
Role: TypeAlias = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
NAME_FALLBACKS = ("preferred_username", "name", "email", "sub")
MAX_NAME = 200  # the audit log's actor_name column


@dataclass(frozen=True)
class ClaimMapping:
    """How claims become a tenant and a role (the `CEP_OIDC_*` settings, parsed)."""

    tenant_claim: str = "cep_tenant"
    fixed_tenant: str | None = None
    role_claim: str = "groups"
    role_map: Mapping[str, Role] | None = None  # None or empty: values `viewer`, `editor`, `admin` are taken as-is
    default_role: Role | None = None
    name_claim: str = "preferred_username"


@dataclass(frozen=True)
class Identity:
    """A person signed in: the provider's subject, the tenant and role in CEP, and a name to show and audit."""

    subject: str
    tenant: str
    role: Role
    name: str


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in gets no session (shown to the person on the sign-in error page)."""

    reason: str


def parse_role_map(text: str) -> dict[str, Role]:
    """`group:role,group:role` -> {group: role}; ValueError naming the bad entry."""
    mapping: dict[str, Role] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        value, sep, role = entry.rpartition(":")
        if not sep or not value.strip() or role.strip() not in ROLES:
            raise ValueError(f"CEP_OIDC_ROLE_MAP: {entry!r} is not 'value:role' with a role in {', '.join(ROLES)}")
        mapping[value.strip()] = cast(Role, role.strip())
    return mapping


def claim_value(claims: Mapping[str, Any], path: str) -> Any:
    """The claim named `path`: a literal key first (URL-named claims contain dots), else a dotted path into
    nested objects (`realm_access.roles`); None when absent."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _strings(value: Any) -> list[str] | None:
    """A claim as a list of strings (a string is a list of one); None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def map_tenant(claims: Mapping[str, Any], mapping: ClaimMapping) -> str | Refusal:
    """The tenant these claims sign into, or why there is none."""
    if mapping.fixed_tenant:
        return mapping.fixed_tenant
    values = _strings(claim_value(claims, mapping.tenant_claim))
    if not values:
        return Refusal(f"your account has no '{mapping.tenant_claim}' claim naming a CEP tenant")
    if len(values) != 1:
        return Refusal(f"your account's '{mapping.tenant_claim}' claim names {len(values)} tenants; it must name one")
    if not TENANT_PATTERN.match(values[0]):
        return Refusal(
            f"your account's '{mapping.tenant_claim}' claim is not a tenant name (1 to 63 characters of a-z, 0-9, '-')"
        )
    return values[0]


def map_role(claims: Mapping[str, Any], mapping: ClaimMapping) -> Role | Refusal:
    """The highest role the claim's values map to, else the default role, else why there is none."""
    values = _strings(claim_value(claims, mapping.role_claim)) or []
    table: Mapping[str, Role] = mapping.role_map or {role: role for role in ROLES}
    mapped = [table[value] for value in values if value in table]
    if mapped:
        return max(mapped, key=ROLES.index)
    if mapping.default_role is not None:
        return mapping.default_role
    return Refusal(f"none of your account's '{mapping.role_claim}' values gives a role in CEP; ask an administrator")


def display_name(claims: Mapping[str, Any], mapping: ClaimMapping) -> str:
    """The first non-empty string of the name claim and the usual fallbacks, cut to what the audit log holds."""
    for path in (mapping.name_claim, *NAME_FALLBACKS):
        value = claim_value(claims, path)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_NAME]
    return "unnamed"


def map_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Identity | Refusal:
    """The identity verified claims sign in as, or the reason they cannot sign in."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return Refusal("the provider's answer names no subject ('sub')")
    tenant = map_tenant(claims, mapping)
    if isinstance(tenant, Refusal):
        return tenant
    role = map_role(claims, mapping)
    if isinstance(role, Refusal):
        return role
    return Identity(subject=subject, tenant=tenant, role=role, name=display_name(claims, mapping))
