"""Conversions between SQL rows, domain models and wire JSON: the one place where the three meet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.db.tables import AuditRow, EventRow, RuleRow, RuleVersionRow, TenantRow, TokenRow
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule


def rfc3339(value: datetime | None) -> str | None:
    """An RFC 3339 UTC string (`2025-01-01T12:00:00Z`), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rule_columns(spec: RuleSpec) -> dict[str, Any]:
    """The query columns and the canonical spec JSON a RuleRow stores for a spec."""
    return {
        "name": spec.name,
        "description": spec.description,
        "active": spec.active,
        "trigger_type": spec.trigger_type,
        "spec": spec.canonical(),
    }


def new_rule_row(spec: RuleSpec, *, rule_id: str, tenant: str, now: datetime) -> RuleRow:
    """The row of a rule created now, at version 1."""
    return RuleRow(rule_id=rule_id, tenant=tenant, version=1, created_at=now, updated_at=now, **rule_columns(spec))


def rule_from_row(row: RuleRow) -> Rule:
    """The domain Rule a row stands for."""
    return make_rule(
        parse_rule(row.spec, stored=True),
        rule_id=row.rule_id,
        tenant=row.tenant,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def make_rule(
    spec: RuleSpec, *, rule_id: str, tenant: str, version: int, created_at: datetime, updated_at: datetime
) -> Rule:
    """A Rule from a validated spec and its server-assigned fields."""
    fields = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    return Rule.model_validate(
        {
            **fields,
            "rule_id": rule_id,
            "tenant": tenant,
            "version": version,
            "created_at": created_at,
            "updated_at": updated_at,
        }
    )


def version_json(row: RuleVersionRow) -> dict[str, Any]:
    """One entry of `GET /cep/rules/{rule_id}/versions`: the full rule JSON of that version and its origin."""
    return {
        "version": row.version,
        "change": row.change,
        "at": rfc3339(row.at),
        "actor": {"token_id": row.actor_token_id, "name": row.actor_name},
        "rule": row.rule,
    }


def token_json(row: TokenRow) -> dict[str, Any]:
    """A token as listed (never the secret, never its hash)."""
    return {
        "token_id": row.token_id,
        "tenant": row.tenant,
        "role": row.role,
        "name": row.name,
        "created_at": rfc3339(row.created_at),
        "expires_at": rfc3339(row.expires_at),
        "revoked_at": rfc3339(row.revoked_at),
        "created_by": row.created_by,
    }


def tenant_json(row: TenantRow) -> dict[str, Any]:
    """A tenant as listed by `GET /cep/tenants`."""
    return {"tenant": row.name, "created_at": rfc3339(row.created_at)}


def audit_json(row: AuditRow) -> dict[str, Any]:
    """One entry of `GET /cep/audit`."""
    return {
        "audit_id": row.id,
        "at": rfc3339(row.at),
        "tenant": row.tenant,
        "actor": {"token_id": row.actor_token_id, "name": row.actor_name},
        "resource": row.resource_kind,
        "resource_id": row.resource_id,
        "action": row.action,
        "change": row.change,
    }


def event_json(row: EventRow) -> dict[str, Any]:
    """An Event as `GET /cep/events/{event_id}` returns it (and as the SSE feed carries it)."""
    feedback = None
    if row.feedback_label is not None:
        feedback = {
            "label": row.feedback_label,
            "note": row.feedback_note,
            "by": row.feedback_by,
            "at": rfc3339(row.feedback_at),
        }
    return {
        "event_id": row.event_id,
        "rule_id": row.rule_id,
        "rule_name": row.rule_name,
        "rule_version": row.rule_version,
        "tenant": row.tenant,
        "trigger_type": row.trigger_type,
        "severity": row.severity,
        "priority": row.priority,
        "status": row.status,
        "fired_at": rfc3339(row.fired_at),
        "last_seen": rfc3339(row.last_seen),
        "resolved_at": rfc3339(row.resolved_at),
        "count": row.count,
        "group_key": row.group_key,
        "fingerprint": row.fingerprint,
        "summary": row.summary,
        "payload": row.payload,
        "value": row.value,
        "explanation": row.explanation,
        "notifications": row.notifications,
        "suppressed": sum(1 for n in row.notifications or [] if n.get("status") == "suppressed"),
        "history": row.history,
        "acked_by": row.acked_by,
        "acked_at": rfc3339(row.acked_at),
        "feedback": feedback,
        "labels": row.labels or {},
        "annotations": row.annotations or {},
    }
