"""Notification-policy entries of the KV bucket `cep-notification-policies` (key: the tenant), as readers decode them.

The gateway writes `{"tenant", "version", "policy"}` (services/gateway/publishers/notification_policy_publisher.py);
the policy is checked again here by the domain's own `parse_policy`, so a reader holds a `NotificationPolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.domain.routing.policy_delivery import STORED_POLICY_LIMITS
from services.common.domain.routing.policy_document import NotificationPolicy, PolicyDocumentError, parse_policy
from services.common.messages.codec import MessageError, loads


@dataclass(frozen=True)
class PolicyEntry:
    """A tenant's notification policy as the bucket holds it, with its version."""

    tenant: str
    version: int
    policy: NotificationPolicy


def decode_policy(data: bytes) -> PolicyEntry:
    """A policy entry; MessageError naming what is wrong otherwise."""
    try:
        raw = loads(data)
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tenant"), str) or not isinstance(raw.get("version"), int):
        raise MessageError("a policy entry is an object with tenant, version and policy")
    try:
        policy = parse_policy(raw.get("policy"), STORED_POLICY_LIMITS)
    except PolicyDocumentError as exc:
        raise MessageError(f"policy: {exc}") from None
    return PolicyEntry(raw["tenant"], raw["version"], policy)
