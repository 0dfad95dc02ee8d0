"""The active schedule rules of every tenant, kept current from the rule bucket (a KV watch)."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_mirror import SKIP, BucketMirror, Skip

log = logging.getLogger(__name__)

RuleKey = tuple[str, str]  # (tenant, rule_id)


def schedulable(key: str, rule: Rule) -> bool:
    """Whether a bucket entry is a rule the scheduler fires: active, a schedule, and names that fit subjects."""
    return (
        rule.active
        and rule.trigger_type == "schedule"
        and key == f"{rule.tenant}.{rule.rule_id}"
        and subjects.valid_tenant(rule.tenant)
        and bool(subjects.RULE_ID_PATTERN.match(rule.rule_id))
    )


class ScheduleRules(BucketMirror[Rule]):
    """Active schedule rules by (tenant, rule_id), from the rule bucket."""

    bucket = subjects.RULES_BUCKET
    what = "rule"

    def __init__(self) -> None:
        super().__init__()
        self.rules = self.items

    def parse(self, key: str, value: bytes) -> Rule | Skip | None:
        try:
            rule = Rule.model_validate(codec.loads(value))
        except (ValueError, ValidationError) as exc:
            log.warning("unreadable rule %s in the rule bucket skipped: %s", key, exc)
            return SKIP
        return rule if schedulable(key, rule) else None
