"""SQL tables of the system of record: tenants, tokens, rules and their versions, the audit log, events.

It stays one module above 300 lines on purpose: the tables share one metadata and naming convention, and the
migrations and the schema check compare against all of them together, as one schema read top to bottom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from services.common.db.types import PortableJSON, UTCDateTime

# Deterministic constraint names, so migrations can refer to them on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _at(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable))


def _tenant_fk() -> Any:
    return Field(sa_column=Column(String(63), ForeignKey("tenants.name"), nullable=False))


class TenantRow(SQLModel, table=True):
    """A tenant, created with its first token."""

    __tablename__ = "tenants"

    name: str = Field(sa_column=Column(String(63), primary_key=True))
    created_at: datetime = _at()


class TokenRow(SQLModel, table=True):
    """A minted bearer token; only the SHA-256 of the secret is stored."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_tenant_created", "tenant", "created_at"),)

    token_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    role: str = Field(sa_column=Column(String(16), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = _at()
    created_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    expires_at: datetime | None = _at(nullable=True)
    revoked_at: datetime | None = _at(nullable=True)


class RuleRow(SQLModel, table=True):
    """The current version of a rule; `spec` is the canonical spec JSON, the other columns are for queries."""

    __tablename__ = "rules"
    __table_args__ = (
        Index("ix_rules_tenant_order", "tenant", "created_at", "rule_id"),
        # Names are unique among a tenant's live rules; a deleted rule frees its name.
        Index(
            "uq_rules_tenant_live_name",
            "tenant",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    rule_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    name: str = Field(sa_column=Column(String(200), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    active: bool = Field(sa_column=Column(Boolean, nullable=False))
    trigger_type: str = Field(sa_column=Column(String(16), nullable=False))
    spec: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    deleted_at: datetime | None = _at(nullable=True)
    simulation_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0"))
    )
    last_simulated_at: datetime | None = _at(nullable=True)
    # The team policy counts simulations of the rule as it is: `basis_simulations` of the trigger, conditions and
    # actions fingerprinted by `simulation_basis` (services/common/domain/rules/policies.py).
    simulation_basis: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    basis_simulations: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0"))
    )
    # Dead letters of source rule_failure: how often the rule raised on an event, and the latest error.
    error_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0")))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error_at: datetime | None = _at(nullable=True)


class RuleVersionRow(SQLModel, table=True):
    """Every version of a rule as the full canonical Rule JSON, with who made it, how and when."""

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    rule_id: str = Field(sa_column=Column(String(64), ForeignKey("rules.rule_id"), nullable=False))
    tenant: str = _tenant_fk()
    version: int = Field(sa_column=Column(Integer, nullable=False))
    change: str = Field(sa_column=Column(String(16), nullable=False))
    rule: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    actor_token_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor_name: str = Field(sa_column=Column(String(200), nullable=False))
    at: datetime = _at()


class AuditRow(SQLModel, table=True):
    """Who changed which resource of a tenant, when, and the change itself (a field diff)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_id", "tenant", "id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tenant: str = Field(sa_column=Column(String(63), nullable=False))
    actor_token_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor_name: str = Field(sa_column=Column(String(200), nullable=False))
    resource_kind: str = Field(sa_column=Column(String(32), nullable=False))
    resource_id: str = Field(sa_column=Column(String(128), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    change: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    at: datetime = _at()


class ChannelRow(SQLModel, table=True):
    """A notification channel; `config` is the public part, `secrets` the write-only fields (never returned).

    `last_test_*` record the latest `POST /cep/channels/test` of the channel (its status, not a new version).
    """

    __tablename__ = "channels"
    __table_args__ = (
        Index("ix_channels_tenant_order", "tenant", "created_at", "channel_id"),
        # Names are unique among a tenant's live channels; a deleted channel frees its name.
        Index(
            "uq_channels_tenant_live_name",
            "tenant",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    channel_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    name: str = Field(sa_column=Column(String(200), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    config: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    secrets: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    deleted_at: datetime | None = _at(nullable=True)
    last_test_at: datetime | None = _at(nullable=True)
    last_test_ok: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    last_test_error: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))


class EventRow(SQLModel, table=True):
    """One alert episode (an event on /cep/events): the recorder's projection of its transitions, plus ack/feedback.

    `notifications` and `history` are JSON lists in the contract's shape; the recorder replaces them whole
    (JSON columns do not track in-place changes).
    """

    __tablename__ = "events"
    __table_args__ = (
        # Newest first per tenant, and the same order under each list filter.
        Index("ix_events_tenant_fired", "tenant", "fired_at", "event_id"),
        Index("ix_events_tenant_rule_fired", "tenant", "rule_id", "fired_at"),
        Index("ix_events_tenant_status_fired", "tenant", "status", "fired_at"),
        Index("ix_events_tenant_severity_fired", "tenant", "severity", "fired_at"),
    )

    event_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = Field(sa_column=Column(String(63), nullable=False))
    rule_id: str = Field(sa_column=Column(String(64), nullable=False))
    rule_name: str = Field(sa_column=Column(String(200), nullable=False))
    rule_version: int = Field(sa_column=Column(Integer, nullable=False))
    trigger_type: str = Field(sa_column=Column(String(16), nullable=False))
    severity: str = Field(sa_column=Column(String(16), nullable=False))
    priority: str = Field(sa_column=Column(String(8), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    group_key: str = Field(sa_column=Column(Text, nullable=False))
    fired_at: datetime = _at()
    last_seen: datetime = _at()
    resolved_at: datetime | None = _at(nullable=True)
    count: int = Field(sa_column=Column(Integer, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    explanation: list[Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    value: Any = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    acked_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    acked_at: datetime | None = _at(nullable=True)
    notifications: list[Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    history: list[Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    feedback_label: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    feedback_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    feedback_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    feedback_at: datetime | None = _at(nullable=True)
    # The episode's labels (fixed when it fired) and its annotations as rendered then (an error text for one that
    # failed to render); `{}` for events recorded before labels.
    labels: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(PortableJSON, nullable=False, server_default=text("'{}'"))
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(PortableJSON, nullable=False, server_default=text("'{}'"))
    )


class TransitionRow(SQLModel, table=True):
    """Every change applied to an event, once: its id is the idempotency key, `fed` says it reached the SSE feed.

    Kinds: `fired`, `updated`, `resolved` (alert transitions, id = the transition id), `acked` (an ACK) and
    `notification` (a delivery result, id = `result:` + the result's message id).
    """

    __tablename__ = "transitions"
    __table_args__ = (
        Index("ix_transitions_event_at", "event_id", "at"),
        Index("ix_transitions_fed_recorded", "fed", "recorded_at"),
    )

    transition_id: str = Field(sa_column=Column(String(200), primary_key=True))
    event_id: str = Field(sa_column=Column(String(64), nullable=False))
    tenant: str = Field(sa_column=Column(String(63), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    at: datetime = _at()
    recorded_at: datetime = _at()
    data: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    fed: bool = Field(sa_column=Column(Boolean, nullable=False))


class ScheduleRunRow(SQLModel, table=True):
    """One scheduled time of a schedule rule and what became of it (fired, caught_up, missed), recorded once.

    (tenant, rule_id, scheduled_at) is unique: a second record of the same run (another leader's, after a crash)
    only bumps `duplicates`, so doubled runs are counted, never stored twice.
    """

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("tenant", "rule_id", "scheduled_at"),
        Index("ix_schedule_runs_tenant_scheduled", "tenant", "scheduled_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tenant: str = Field(sa_column=Column(String(63), nullable=False))
    rule_id: str = Field(sa_column=Column(String(64), nullable=False))
    rule_version: int = Field(sa_column=Column(Integer, nullable=False))
    scheduled_at: datetime = _at()
    status: str = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime | None = _at(nullable=True)
    delay_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    instance: str = Field(sa_column=Column(String(200), nullable=False))
    fencing: int = Field(sa_column=Column(BigInteger, nullable=False))
    recorded_at: datetime = _at()
    duplicates: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0")))


class PollingTargetRow(SQLModel, table=True):
    """A metric-polling target; `spec` is its canonical JSON (`TargetSpec.as_dict`), mirrored to the scheduler."""

    __tablename__ = "polling_targets"
    __table_args__ = (
        Index("ix_polling_targets_tenant_order", "tenant", "created_at", "target_id"),
        # Names are unique among a tenant's live targets; a deleted target frees its name.
        Index(
            "uq_polling_targets_tenant_live_name",
            "tenant",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    target_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    name: str = Field(sa_column=Column(String(200), nullable=False))
    spec: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    deleted_at: datetime | None = _at(nullable=True)


class TenantSettingsRow(SQLModel, table=True):
    """A tenant's settings (team policies), one row per tenant once an admin sets them; absent = all off."""

    __tablename__ = "tenant_settings"

    tenant: str = Field(sa_column=Column(String(63), ForeignKey("tenants.name"), primary_key=True))
    settings: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = _at()
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))


class DeadLetterRow(SQLModel, table=True):
    """A dead letter from CEP_DEAD (common/nats/dead_letters.py), one row per id; `replay`: what a replay sends."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_tenant_at", "tenant", "at", "id"),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = Field(sa_column=Column(String(63), nullable=False))
    source: str = Field(sa_column=Column(String(32), nullable=False))
    rule_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    error: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = _at()
    recorded_at: datetime = _at()
    event: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    origin: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    replay: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    replay_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0")))
    replayed_at: datetime | None = _at(nullable=True)
    replayed_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))


class TenantQuotaRow(SQLModel, table=True):
    """The platform admin's quota overrides of one tenant; absent = defaults.

    The quotas themselves are in services/common/domain/quotas/tenant_quotas.py.
    """

    __tablename__ = "tenant_quotas"

    tenant: str = Field(sa_column=Column(String(63), ForeignKey("tenants.name"), primary_key=True))
    overrides: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = _at()
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))


class SilenceRow(SQLModel, table=True):
    """A silence (Alertmanager's, or a recurring one of ours); `matchers` as `[{name, type, value}]` in order.

    A fixed silence has `starts_at` and `ends_at`; a recurring one keeps its windows in `recurrence` and may be
    open-ended (`ends_at` null). Silences are never deleted: expiring one sets its end to now. `version` counts
    its changes (the KV mirror's order).
    """

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_tenant_order", "tenant", "created_at", "silence_id"),)

    silence_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    matchers: list[Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    starts_at: datetime = _at()
    ends_at: datetime | None = _at(nullable=True)
    recurrence: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    comment: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()


class InhibitRuleRow(SQLModel, table=True):
    """An inhibit rule of a tenant; `spec` is its canonical JSON (source/target matchers, equal labels)."""

    __tablename__ = "inhibit_rules"
    __table_args__ = (Index("ix_inhibit_rules_tenant_order", "tenant", "created_at", "rule_id"),)

    rule_id: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant: str = _tenant_fk()
    spec: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    deleted_at: datetime | None = _at(nullable=True)


class InhibitRuleVersionRow(SQLModel, table=True):
    """Every version of an inhibit rule, as rule_versions keeps rules' (`change`: created, replaced, deleted)."""

    __tablename__ = "inhibit_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    rule_id: str = Field(sa_column=Column(String(64), ForeignKey("inhibit_rules.rule_id"), nullable=False))
    tenant: str = _tenant_fk()
    version: int = Field(sa_column=Column(Integer, nullable=False))
    change: str = Field(sa_column=Column(String(16), nullable=False))
    spec: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    actor_token_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor_name: str = Field(sa_column=Column(String(200), nullable=False))
    at: datetime = _at()


class NotificationPolicyRow(SQLModel, table=True):
    """A tenant's notification policy (routing tree, receivers, time intervals); absent or deleted = none.

    `version` keeps counting across a delete, so every version in `notification_policy_versions` is unique.
    """

    __tablename__ = "notification_policies"

    tenant: str = Field(sa_column=Column(String(63), ForeignKey("tenants.name"), primary_key=True))
    document: dict[str, Any] = Field(sa_column=Column(PortableJSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = _at()
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))
    deleted_at: datetime | None = _at(nullable=True)


class NotificationPolicyVersionRow(SQLModel, table=True):
    """Every version of a tenant's notification policy (`change`: replaced or deleted), who made it and when."""

    __tablename__ = "notification_policy_versions"
    __table_args__ = (UniqueConstraint("tenant", "version"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tenant: str = _tenant_fk()
    version: int = Field(sa_column=Column(Integer, nullable=False))
    change: str = Field(sa_column=Column(String(16), nullable=False))
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(PortableJSON, nullable=True))
    actor_token_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor_name: str = Field(sa_column=Column(String(200), nullable=False))
    at: datetime = _at()
