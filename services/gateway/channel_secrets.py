"""Channel secrets in the gateway: opened to merge a change, sealed for SQL, re-sealed under the first key.

SQL holds each secret as `enc:v1:<token>` (services/common/secrets/sealing.py). Rows from before sealing hold plaintext,
and rows from before masking hold header values and URL credentials in the public config: both are read as they
are and re-sealed by `reseal_channels`, which the gateway runs at start and `cep secrets rotate` on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.db.sql_engine import Database
from services.common.db.tables import ChannelRow
from services.common.domain.notify.channels import split_stored
from services.common.secrets.sealing import SecretBox, SecretsKeyError
from services.gateway.store import channels as store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resealed:
    """What a re-seal pass did: rows rewritten, secret values re-sealed, rows with a value no key opens."""

    channels: int = 0
    values: int = 0
    unreadable: int = 0


def opened_secrets(box: SecretBox, row: ChannelRow) -> dict[str, Any]:
    """The row's secrets in the clear, the real values of a config from before masking included (never logged)."""
    return {name: box.open_any(value) for name, value in split_stored(row.type, row.config, row.secrets)[1].items()}


def seal_all(box: SecretBox, secrets: Mapping[str, Any]) -> dict[str, str]:
    """Every secret sealed under the first key: what SQL stores."""
    return {name: box.seal(value) for name, value in secrets.items()}


async def reseal_channels(db: Database, box: SecretBox) -> Resealed:
    """Re-seal every stored channel secret under the first key: plaintext sealed, older keys' tokens rotated,
    masked fields split out of old configs, and a deleted channel's secrets dropped (never used again)."""
    channels = values = unreadable = 0
    async with db.write() as session:
        for row in await store.all_channels(session):
            public, secrets = split_stored(row.type, row.config, row.secrets)
            try:
                sealed = {} if row.deleted_at else {name: box.reseal(value) for name, value in secrets.items()}
            except SecretsKeyError:
                log.warning("channel %s holds a secret none of the configured keys opens", row.channel_id)
                unreadable += 1
                continue
            if (public, sealed) == (row.config, row.secrets):
                continue
            if await store.replace_stored(session, row.channel_id, row.version, public, sealed):
                channels += 1
                values += sum(value != row.secrets.get(name) for name, value in sealed.items())
    return Resealed(channels, values, unreadable)
