"""SQL tables of the system of record: tenants, tokens, rules and their versions, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
