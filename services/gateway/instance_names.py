"""Opaque names of scheduler instances for tenants: an instance id is `host:pid`, which is the platform's business.

A name is `scheduler-` and 12 hex digits of an HMAC of the instance id, so it is stable (the same instance has the
same name in the status, the instance list and the runs) and cannot be turned back into a host and pid by
guessing. The key is derived from `CEP_ADMIN_TOKEN`, which every gateway replica shares, so replicas agree;
without an admin token each gateway process draws its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from services.gateway.auth import Principal
from services.gateway.settings import GatewaySettings
from services.gateway.state import state_of

PREFIX = "scheduler-"
_DERIVATION = b"cep scheduler instance names v1"


@dataclass(frozen=True)
class InstanceNames:
    """Turns instance ids into the opaque names tenants see."""

    key: bytes

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> InstanceNames:
        if settings.admin_token:
            return cls(hmac.new(settings.admin_token.encode(), _DERIVATION, hashlib.sha256).digest())
        return cls(secrets.token_bytes(32))

    def name(self, instance: str) -> str:
        """The opaque name of one instance id."""
        return PREFIX + hmac.new(self.key, instance.encode(), hashlib.sha256).hexdigest()[:12]


def naming(request: Request, principal: Principal) -> Callable[[str], str]:
    """How `principal` sees instance ids: as they are for the platform admin, opaque names for everyone else."""
    if principal.platform_admin:
        return str
    return state_of(request).instance_names.name
