"""Channels and rules from their KV buckets, read at attempt time (so a change is seen by the next attempt).

A channel's secrets are sealed in the bucket (services/common/secrets/channel_sealing.py): they are opened here, in
memory only, for the attempt.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError

from services.common.messages import codec
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.common.secrets.channel_sealing import open_entry
from services.common.secrets.sealing import SecretBox

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Rules(Protocol):
    """Where rules are looked up (the rule bucket, in the service)."""

    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None: ...


class Directory(Rules, Protocol):
    """Where channels and rules are looked up (their KV buckets, in the service)."""

    async def channel(self, tenant: str, ref: str) -> ChannelEntry | None: ...


class KvDirectory:
    """Channels and rules from their KV buckets, read at attempt time (so a change is seen by the next attempt)."""

    def __init__(self, js: JetStreamContext, box: SecretBox) -> None:
        self.js = js
        self.box = box

    async def _get(self, bucket: str, key: str) -> bytes | None:
        try:
            entry = await (await self.js.key_value(bucket)).get(key)
        except (KeyNotFoundError, ValueError):
            return None
        return entry.value or None

    async def channel(self, tenant: str, ref: str) -> ChannelEntry | None:
        """A channel of the tenant by id, else by name, its secrets opened (SecretsKeyError when no key opens one)."""
        if not subjects.valid_tenant(tenant):
            return None
        if _ID.match(ref):
            found = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_key(tenant, ref))
            if found:
                return open_entry(self.box, ChannelEntry.decode(found))
        channel_id = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_name_key(tenant, ref))
        if channel_id is None or not _ID.match(channel_id.decode()):
            return None
        found = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_key(tenant, channel_id.decode()))
        return open_entry(self.box, ChannelEntry.decode(found)) if found else None

    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None:
        """The rule's canonical JSON as the rule bucket holds it (its latest version)."""
        if not subjects.valid_tenant(tenant) or not _ID.match(rule_id):
            return None
        found = await self._get(subjects.RULES_BUCKET, subjects.rule_key(tenant, rule_id))
        value = codec.loads(found) if found else None
        return value if isinstance(value, dict) else None
