"""The notifier's in-memory copies of the silence and inhibit-rule buckets, indexed by tenant.

Each is a `BucketMirror` (services/common/nats/kv_mirror.py): loaded from the bucket at start (the notifier is
not ready before), then kept current by a watch, so a silence created, edited or expired through the gateway
applies to the next notification decided. An entry that does not decode is logged and skipped (the copy held so
far stays), never a reason to stop muting the tenant's other alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from services.common.messages.codec import MessageError
from services.common.messages.muting import (
    InhibitRuleEntry,
    OpenAlertEntry,
    SilenceEntry,
    decode_inhibit_rule,
    decode_open_alert,
    decode_silence,
)
from services.common.nats import subjects
from services.common.nats.kv_mirror import SKIP, BucketMirror, Key, Skip, Versioned

log = logging.getLogger(__name__)

V = TypeVar("V", bound=Versioned)


class TenantMirror(BucketMirror[V], Generic[V]):
    """A bucket mirror that also answers "every item of one tenant" without scanning the other tenants.

    A subclass names its `bucket`, what its items are (`what`, for the log) and how one decodes (`decode`)."""

    what = "item"

    def decode(self, value: bytes) -> V:
        raise NotImplementedError

    def parse(self, key: str, value: bytes) -> V | Skip | None:
        try:
            return self.decode(value)
        except MessageError as exc:
            log.warning("%s %s cannot be read (%s); skipped", self.what, key, exc.reason)
            return SKIP

    def __init__(self) -> None:
        super().__init__()
        self.by_tenant: dict[str, dict[str, V]] = {}
        # Called with (tenant, id, the item or None when gone) after every change, for indexes built on the copy.
        self.listeners: list[Callable[[str, str, V | None], None]] = []

    def of_tenant(self, tenant: str) -> list[V]:
        """The tenant's items (none of another tenant's)."""
        return list(self.by_tenant.get(tenant, {}).values())

    def apply(self, key: str, value: bytes | None, deleted: bool) -> None:
        super().apply(key, value, deleted)
        tenant, _, ident = key.partition(".")
        self._index((tenant, ident))

    def _forget_except(self, seen: set[Key]) -> None:
        gone = [k for k in self.items if k not in seen]
        super()._forget_except(seen)
        for key in gone:
            self._index(key)

    def _index(self, key: Key) -> None:
        tenant, ident = key
        held = self.items.get(key)
        if held is not None:
            self.by_tenant.setdefault(tenant, {})[ident] = held
        elif tenant in self.by_tenant:
            items = self.by_tenant[tenant]
            items.pop(ident, None)
            if not items:
                del self.by_tenant[tenant]
        for listener in self.listeners:
            listener(tenant, ident, held)


class SilenceMirror(TenantMirror[SilenceEntry]):
    """`cep-silences`: every pending or active silence, fixed or recurring (expired ones are removed)."""

    bucket = subjects.SILENCES_BUCKET
    what = "silence"

    def decode(self, value: bytes) -> SilenceEntry:
        return decode_silence(value)


class InhibitRuleMirror(TenantMirror[InhibitRuleEntry]):
    """`cep-inhibit-rules`: every live inhibit rule."""

    bucket = subjects.INHIBIT_RULES_BUCKET
    what = "inhibit rule"

    def decode(self, value: bytes) -> InhibitRuleEntry:
        return decode_inhibit_rule(value)


class OpenAlertMirror(TenantMirror[OpenAlertEntry]):
    """`cep-open-alerts`: the open alerts every notifier replica recorded (open_alerts.py writes them)."""

    bucket = subjects.OPEN_ALERTS_BUCKET
    what = "open alert"

    def decode(self, value: bytes) -> OpenAlertEntry:
        return decode_open_alert(value)
