"""The NATS secrets of a deployment: the platform's internal password and the auth callout's account key.

`cep up` makes them once per state directory; `cep nats-keys` prints a fresh set for compose and Kubernetes
(put them in your secret store; README, "Deploying").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import nkeys


@dataclass(frozen=True)
class NatsKeys:
    password: str  # the internal user's password (hex: safe inside a URL's user-info without quoting)
    issuer_seed: str  # the account seed the gateway signs producers' user JWTs with (`SA...`)

    @property
    def issuer(self) -> str:
        """The account public key nats-server trusts the callout's answers from (`A...`)."""
        return bytes(nkeys.from_seed(self.issuer_seed.encode()).public_key).decode()

    def env(self) -> dict[str, str]:
        """The variables compose and Kubernetes read (names as in compose.yaml and k8s/base/secret.yaml)."""
        return {
            "CEP_NATS_PASSWORD": self.password,
            "CEP_NATS_AUTH_ISSUER": self.issuer,
            "CEP_NATS_AUTH_ISSUER_SEED": self.issuer_seed,
        }


def generate() -> NatsKeys:
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_ACCOUNT).decode()
    return NatsKeys(secrets.token_hex(24), seed)
