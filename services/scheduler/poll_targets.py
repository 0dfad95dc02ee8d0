"""The active metric-polling targets of every tenant, kept current from the `cep-polling` bucket (a KV watch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.common.domain.schedules.polling import PollingValidationError, TargetSpec, parse_target
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_mirror import BucketMirror

log = logging.getLogger(__name__)

TargetKey = tuple[str, str]  # (tenant, target_id)


@dataclass(frozen=True)
class PollTarget:
    """A target the leader polls: who owns it, which version, and its validated spec."""

    tenant: str
    target_id: str
    version: int
    spec: TargetSpec


def target_of(key: str, value: bytes) -> PollTarget | None:
    """The active target a bucket entry holds, or None (inactive, unreadable, or a key that does not match)."""
    tenant, _, target_id = key.partition(".")
    try:
        body = codec.loads(value)
        spec = parse_target(body)
        version = int(body["version"])
    except (ValueError, KeyError, TypeError, PollingValidationError) as exc:
        log.warning("unreadable polling target %s skipped: %s", key, exc)
        return None
    if not spec.active or body.get("tenant") != tenant or body.get("target_id") != target_id:
        return None
    if not subjects.valid_tenant(tenant) or not subjects.RULE_ID_PATTERN.match(target_id):
        return None
    return PollTarget(tenant, target_id, version, spec)


class PollTargets(BucketMirror[PollTarget]):
    """Active targets by (tenant, target_id), from the polling bucket."""

    bucket = subjects.POLLING_BUCKET
    what = "polling target"

    def __init__(self) -> None:
        super().__init__()
        self.targets = self.items

    def parse(self, key: str, value: bytes) -> PollTarget | None:
        return target_of(key, value)
