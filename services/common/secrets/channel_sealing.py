"""Channel secrets on the wire and at rest: the gateway seals them into a channel's config, the notifier opens them.

A channel entry (KV `cep-channels`, a channel test request) holds the public config with each sealed field (a
secret, or the real value of a field with a secret part: headers, a URL with credentials) replaced by its
`enc:v1:` text, so the rest of the config stays readable. Plaintext from before sealing is read as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.channels import split_stored
from services.common.messages.channels import ChannelEntry
from services.common.secrets.sealing import SecretBox, is_sealed


def sealed_config(
    box: SecretBox, type_name: str, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, Any]:
    """The config an entry carries: public fields, and every secret sealed (one sealed already is kept as it is)."""
    public, kept = split_stored(type_name, config, secrets)
    return {**public, **{name: value if is_sealed(value) else box.seal(value) for name, value in kept.items()}}


def open_entry(box: SecretBox, entry: ChannelEntry) -> ChannelEntry:
    """The entry with its sealed fields opened: what a sender needs. SecretsKeyError when no key opens one."""
    channel_type = TYPES.get(entry.type)
    names = channel_type.sealed_names if channel_type else frozenset()
    opened = {k: box.open(v) if k in names and is_sealed(v) else v for k, v in entry.config.items()}
    return replace(entry, config=opened)
