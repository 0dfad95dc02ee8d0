"""The tenant's built-in rule of posted alerts (posted_alerts/builtin_rule.py): found, or created on first use.

`POST /api/v2/alerts` calls `ensure_builtin_rule` before it publishes the alerts, so the rule is in every engine
before its first alert arrives (a rule create returns once the rule is published). A tenant that deactivated the
rule keeps it deactivated; one that deleted it gets a new one (a new id) on its next post.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from services.common.db.tables import RuleRow
from services.common.domain.posted_alerts.builtin_rule import (
    BUILTIN_RULE_NAME,
    BUILTIN_RULE_PREFIX,
    builtin_rule_body,
    new_builtin_rule_id,
)
from services.common.domain.rules.model import parse_rule
from services.gateway.auth import Principal
from services.gateway.rest.problems import Problem
from services.gateway.state import GatewayState


async def ensure_builtin_rule(state: GatewayState, principal: Principal) -> str:
    """The id of the tenant's built-in rule of posted alerts, created now (active) when it has none."""
    found = await _builtin_rule_id(state, principal.tenant)
    if found is not None:
        return found
    body = builtin_rule_body()
    for name in (BUILTIN_RULE_NAME, f"{BUILTIN_RULE_NAME}-{uuid.uuid4().hex[:6]}"):
        spec = parse_rule({**body, "name": name})
        try:
            rule = await state.rule_writer.create(
                principal.tenant, principal.actor, spec, datetime.now(UTC), rule_id=new_builtin_rule_id()
            )
            return rule.rule_id
        except Problem as exc:
            if exc.status != 409:
                raise
            found = await _builtin_rule_id(state, principal.tenant)  # another post created it meanwhile
            if found is not None:
                return found
    raise Problem(
        409,
        "the built-in rule of posted alerts could not be named: rename the tenant's rules "
        f"named {BUILTIN_RULE_NAME!r}*",
        kind="conflict",
    )


async def _builtin_rule_id(state: GatewayState, tenant: str) -> str | None:
    query = (
        select(col(RuleRow.rule_id))
        .where(
            col(RuleRow.tenant) == tenant,
            col(RuleRow.deleted_at).is_(None),
            col(RuleRow.rule_id).startswith(BUILTIN_RULE_PREFIX),
        )
        .order_by(col(RuleRow.created_at))
        .limit(1)
    )
    async with state.db.read() as session:
        return (await session.execute(query)).scalar_one_or_none()
