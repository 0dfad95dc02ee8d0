"""The channel entry: KV `cep-channels` `<tenant>.<channel_id>`, a channel with its secrets sealed
(`services/common/secrets/channel_sealing.py`), as the gateway writes it and the notifier reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from services.common.messages.codec import decode, dumps


@dataclass(frozen=True)
class ChannelEntry:
    """A channel as the notifier reads it from the channels bucket: `config` includes the secrets (sealed in the
    bucket, opened by the notifier's directory)."""

    tenant: str
    channel_id: str
    name: str
    type: str
    config: dict[str, Any]
    version: int

    def __repr__(self) -> str:  # a stray log or traceback must not print the secrets in `config`
        return f"ChannelEntry({self.tenant!r}, {self.channel_id!r}, {self.name!r}, {self.type!r}, v{self.version})"

    def encode(self) -> bytes:
        return dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> ChannelEntry:
        """A channel entry; MessageError naming the field when malformed."""
        return decode(cls, data)
