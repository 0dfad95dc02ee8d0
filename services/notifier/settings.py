"""Settings of the notifier service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.common.domain.notify.channel_types import MAX_ATTEMPTS_LIMIT
from services.common.secrets.sealing import SecretBox, load_box
from services.common.settings import ServiceSettings
from services.notifier.delivery.retry import RetryPolicy


class NotifierSettings(ServiceSettings):
    """`CEP_NOTIFIER_PORT` (ops HTTP), `CEP_NOTIFIER_GRPC_PORT`, and the delivery retry defaults.

    Retries (contract defaults): `CEP_RETRY_INITIAL` seconds before the first retry, doubling, +-`CEP_RETRY_JITTER`,
    at most `CEP_RETRY_MAX` seconds apart, `CEP_RETRY_ATTEMPTS` attempts in all; channels may override them.
    """

    notifier_port: int = 8083
    notifier_grpc_port: int = 50052
    retry_initial: float = 1.0
    retry_max: float = 60.0
    retry_jitter: float = 0.2
    retry_attempts: int = Field(default=6, ge=1, le=MAX_ATTEMPTS_LIMIT)
    # Attempts in flight at once, so a slow endpoint does not hold up the others.
    delivery_concurrency: int = Field(default=64, ge=1, le=1000)
    alert_batch: int = 100  # alerts fetched per pull
    # Open alerts kept per tenant as inhibition sources (muting/open_alerts.py); past it, a new one inhibits nothing.
    open_alerts_per_tenant: int = Field(default=10_000, ge=1)
    # The gateway's channel-secret keys (the same CEP_SECRETS_KEY or CEP_SECRETS_KEY_FILE): they open what it seals.
    secrets_key: SecretStr | None = None
    secrets_key_file: Path | None = None

    def secret_box(self) -> SecretBox:
        """The box that opens channel secrets; SecretsKeyError (a clear message) without a key."""
        return load_box(self.secrets_key, self.secrets_key_file)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The default retry policy these settings describe."""
        return RetryPolicy(
            initial=self.retry_initial, jitter=self.retry_jitter, max_delay=self.retry_max, attempts=self.retry_attempts
        )
