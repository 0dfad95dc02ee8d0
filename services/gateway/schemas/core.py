"""Wire models of the core routes (tokens, tenants, rules, forms, simulate, audit) and of a problem document.

Request validation and the OpenAPI document share them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.model import Rule, RuleSpec

TENANT_PATTERN = re.compile(r"^[a-z0-9-]{1,63}$")


def _tenant_name(value: str) -> str:
    if not TENANT_PATTERN.match(value):
        raise ValueError("a tenant name is 1 to 63 characters from a-z, 0-9 and '-'")
    return value


def _duration(value: str) -> str:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    return value


TenantName = Annotated[str, AfterValidator(_tenant_name)]


class Strict(BaseModel):
    """A request body: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class TokenCreate(Strict):
    """`POST /cep/auth/tokens`: `tenant` defaults to the caller's; `expires_in` is a duration (`30d`)."""

    tenant: TenantName | None = None
    role: Literal["viewer", "editor", "admin"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    expires_in: Annotated[str, AfterValidator(_duration)] | None = None


class TokenFields(BaseModel):
    """What every answer about a token shows of it (never its hash)."""

    token_id: str
    tenant: str
    role: str
    name: str
    created_at: str
    expires_at: str | None


class TokenInfo(TokenFields):
    """A token as listed: never the secret."""

    revoked_at: str | None = None
    created_by: str | None = None


class TokenCreated(TokenFields):
    """The answer of a mint: the only time the secret `token` is shown."""

    token: str


class TokenList(BaseModel):
    items: list[TokenInfo]
    total: int
    next_cursor: str | None


class Whoami(BaseModel):
    tenant: str
    role: str
    token_id: str
    name: str
    platform_admin: bool
    expires_at: str | None


class TenantInfo(BaseModel):
    tenant: str
    created_at: str


class TenantList(BaseModel):
    items: list[TenantInfo]
    total: int
    next_cursor: str | None


class StoredRule(Rule):
    """A stored rule as the API returns it: the Rule plus its error state (how often it raised on an event)."""

    error_count: int = 0
    last_error: str | None = None
    last_error_at: str | None = None


class ListedRule(StoredRule):
    """A rule in `GET /cep/rules`: the Rule, its error state and its firing record (events it opened; latest)."""

    firing_count: int = 0
    last_fired_at: str | None = None


class RuleList(BaseModel):
    items: list[ListedRule]
    total: int
    next_cursor: str | None


class RulePatch(BaseModel):
    """A JSON merge patch (RFC 7396) over the rule's writable fields; `version` optionally guards it."""

    model_config = ConfigDict(extra="allow")

    version: int | None = None


class RuleReplace(RuleSpec):
    """A full replacement: a create body, optionally with the `version` it was read at."""

    version: int | None = None


class ActorInfo(BaseModel):
    token_id: str
    name: str


class RuleVersion(BaseModel):
    version: int
    change: Literal["created", "replaced", "patched", "deleted"]
    at: str
    actor: ActorInfo
    rule: Rule


class RuleVersionList(BaseModel):
    items: list[RuleVersion]
    total: int
    next_cursor: str | None


class FieldErrorInfo(BaseModel):
    loc: list[str | int]
    msg: str


class RuleForm(BaseModel):
    """The UI's form body; values may be strings and are coerced (see services/common/domain/rules/forms.py)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    active: bool | str | None = None
    owner: str | None = None
    backup_owner: str | None = None
    priority: str | None = None
    severity: str | None = None
    trigger_type: str | None = None
    trigger: dict[str, Any] | None = None
    logic: Literal["AND", "OR", "NOT"] | None = None
    conditions: list[dict[str, Any]] | dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    suppression: dict[str, Any] | None = None
    purpose: str | None = None
    deactivation_criterion: str | None = None
    runbook: str | None = None
    rollback: str | None = None
    labels: dict[str, str] | list[dict[str, Any]] | None = Field(
        default=None, description='an object, or the editor\'s rows `[{"name", "value"}, ...]`'
    )
    annotations: dict[str, str] | list[dict[str, Any]] | None = None


class Preview(BaseModel):
    rule: dict[str, Any] | None
    summary: str
    warnings: list[str]
    errors: list[FieldErrorInfo]


Payload = dict[str, Any]
Payloads = Annotated[list[Payload], Field(min_length=1, max_length=1000)]


def _rule_is_a_spec(schema: dict[str, Any]) -> None:
    # `rule` is validated by parse_rule (for its field paths), but documented as the create body it is.
    schema["properties"]["rule"] = {"$ref": "#/components/schemas/RuleSpec"}


class SimulateDraft(Strict):
    """`POST /cep/rules/simulate`: a create body and one payload or a list of them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_rule_is_a_spec)

    rule: dict[str, Any]
    payload: Payload | None = None
    payloads: Payloads | None = None


class SimulateStored(Strict):
    """`POST /cep/rules/{rule_id}/simulate`: one payload or a list of them."""

    payload: Payload | None = None
    payloads: Payloads | None = None


class Simulation(BaseModel):
    """What the rule would do with the payload(s); nothing is sent."""

    model_config = ConfigDict(extra="allow")

    matched: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    errors: list[Any]


class SimulationStats(BaseModel):
    rule_id: str
    count: int
    last_simulated_at: str | None
    since_last_change: int = Field(description="simulations of the rule's current trigger, conditions and actions")


class AuditEntry(BaseModel):
    audit_id: int
    at: str
    tenant: str
    actor: ActorInfo
    resource: str
    resource_id: str
    action: str
    change: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditEntry]
    total: int
    next_cursor: str | None


class ProblemDetails(BaseModel):
    """`application/problem+json` (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldErrorInfo]


# Every model the document describes, with the direction it travels in.
DOCUMENTED: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (RuleSpec, "validation"),
    (RuleReplace, "validation"),
    (RulePatch, "validation"),
    (RuleForm, "validation"),
    (SimulateDraft, "validation"),
    (SimulateStored, "validation"),
    (TokenCreate, "validation"),
    (Rule, "serialization"),
    (StoredRule, "serialization"),
    (RuleList, "serialization"),
    (RuleVersionList, "serialization"),
    (Preview, "serialization"),
    (Simulation, "serialization"),
    (SimulationStats, "serialization"),
    (TokenCreated, "serialization"),
    (TokenList, "serialization"),
    (Whoami, "serialization"),
    (TenantList, "serialization"),
    (AuditList, "serialization"),
    (ProblemDetails, "serialization"),
]
