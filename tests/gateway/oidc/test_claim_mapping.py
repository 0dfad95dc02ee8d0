"""Claims -> tenant and role: fixed or claimed tenants, role maps over groups, the highest role, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway import auth
from services.gateway.oidc.claim_mapping import (
    ROLES,
    ClaimMapping,
    Identity,
    Refusal,
    claim_value,
    map_claims,
    parse_role_map,
)

GROUPS = ClaimMapping(role_map=parse_role_map("cep-admins:admin, cep-editors:editor,cep-viewers:viewer"))


def test_the_roles_are_the_gateways() -> None:
    assert ROLES == auth.ROLES


@pytest.mark.parametrize(
    ("claims", "mapping", "expected"),
    [
        (  # the tenant claim and one group
            {"sub": "u1", "cep_tenant": "acme", "groups": ["cep-editors"], "preferred_username": "erin"},
            GROUPS,
            Identity("u1", "acme", "editor", "erin"),
        ),
        (  # several groups: the highest role wins, whatever the order
            {"sub": "u1", "cep_tenant": "acme", "groups": ["cep-viewers", "cep-admins", "cep-editors"]},
            GROUPS,
            Identity("u1", "acme", "admin", "u1"),
        ),
        (  # a single string is a list of one; unmapped groups are ignored
            {"sub": "u1", "cep_tenant": "acme", "groups": "cep-viewers", "name": "Vic"},
            GROUPS,
            Identity("u1", "acme", "viewer", "Vic"),
        ),
        (  # a fixed tenant wins over any claim
            {"sub": "u1", "cep_tenant": "other", "groups": ["cep-editors"]},
            ClaimMapping(fixed_tenant="corp", role_map=GROUPS.role_map),
            Identity("u1", "corp", "editor", "u1"),
        ),
        (  # nested claims by dotted path (Keycloak's realm_access.roles), no role map: role names as-is
            {"sub": "u1", "org": {"tenant": "acme"}, "realm_access": {"roles": ["offline", "editor"]}},
            ClaimMapping(tenant_claim="org.tenant", role_claim="realm_access.roles"),
            Identity("u1", "acme", "editor", "u1"),
        ),
        (  # URL-named claims contain dots: the literal key is read first
            {"sub": "u1", "https://cep.example/tenant": "acme", "https://cep.example/roles": ["admin"]},
            ClaimMapping(tenant_claim="https://cep.example/tenant", role_claim="https://cep.example/roles"),
            Identity("u1", "acme", "admin", "u1"),
        ),
        (  # nothing maps, but a default role is configured
            {"sub": "u1", "cep_tenant": "acme", "groups": ["staff"]},
            ClaimMapping(role_map=GROUPS.role_map, default_role="viewer"),
            Identity("u1", "acme", "viewer", "u1"),
        ),
        (  # the name claim, then its fallbacks; cut to the audit log's 200 characters
            {"sub": "u1", "cep_tenant": "acme", "groups": ["cep-viewers"], "email": "e" * 300},
            ClaimMapping(role_map=GROUPS.role_map, name_claim="nickname"),
            Identity("u1", "acme", "viewer", "e" * 200),
        ),
    ],
)
def test_claims_map_to_an_identity(claims: dict[str, Any], mapping: ClaimMapping, expected: Identity) -> None:
    assert map_claims(claims, mapping) == expected


@pytest.mark.parametrize(
    ("claims", "mapping", "reason"),
    [
        ({"sub": "u1", "groups": ["cep-editors"]}, GROUPS, "no 'cep_tenant' claim"),
        ({"sub": "u1", "cep_tenant": "Acme Corp", "groups": ["cep-editors"]}, GROUPS, "not a tenant name"),
        ({"sub": "u1", "cep_tenant": "a" * 64, "groups": ["cep-editors"]}, GROUPS, "not a tenant name"),
        ({"sub": "u1", "cep_tenant": ["acme", "globex"], "groups": ["cep-editors"]}, GROUPS, "names 2 tenants"),
        ({"sub": "u1", "cep_tenant": 7, "groups": ["cep-editors"]}, GROUPS, "no 'cep_tenant' claim"),
        ({"sub": "u1", "cep_tenant": "acme", "groups": ["staff"]}, GROUPS, "none of your account's 'groups'"),
        ({"sub": "u1", "cep_tenant": "acme"}, GROUPS, "none of your account's 'groups'"),
        ({"sub": "u1", "cep_tenant": "acme", "groups": [1, "cep-admins"]}, GROUPS, "none of your account's"),
        ({"cep_tenant": "acme", "groups": ["cep-admins"]}, GROUPS, "no subject"),
        # with a role map, a group literally named like a role gives nothing
        ({"sub": "u1", "cep_tenant": "acme", "groups": ["admin"]}, GROUPS, "none of your account's"),
    ],
)
def test_claims_that_cannot_sign_in_are_refused_with_a_reason(
    claims: dict[str, Any], mapping: ClaimMapping, reason: str
) -> None:
    refusal = map_claims(claims, mapping)
    assert isinstance(refusal, Refusal)
    assert reason in refusal.reason


def test_role_maps_parse_and_bad_entries_are_named() -> None:
    assert parse_role_map("") == {}
    assert parse_role_map("/ops team:admin , devs:editor") == {"/ops team": "admin", "devs": "editor"}
    assert parse_role_map("team:a:editor") == {"team:a": "editor"}  # the role follows the last colon
    for bad in ("devs", "devs:owner", ":editor"):
        with pytest.raises(ValueError, match="CEP_OIDC_ROLE_MAP"):
            parse_role_map(bad)


def test_claim_paths() -> None:
    claims = {"a": {"b": {"c": 1}}, "x.y": 2}
    assert (claim_value(claims, "a.b.c"), claim_value(claims, "x.y"), claim_value(claims, "a.z")) == (1, 2, None)
    assert claim_value(claims, "a.b.c.d") is None
