"""What a channel sender gets (a Delivery) and returns (an Outcome), and the redaction every error text passes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from services.common.domain.notify.channels import secret_values as config_secrets
from services.common.messages.channels import ChannelEntry

ErrorKind = Literal["timeout", "auth", "network", "http", "config", "template", "egress"]
_MIN_SECRET = 4  # shorter "secrets" would blank out ordinary words; validation keeps real ones longer
_MAX_DETAIL = 300
EXCERPT_BYTES = 512


@dataclass(frozen=True)
class Delivery:
    """One attempt to tell a channel about an event: `delivery_id` (transition id + action index) is idempotent."""

    delivery_id: str
    channel: ChannelEntry
    event: dict[str, Any]
    message: str
    attempt: int
    # The `rule` of the template context (api_call renders its body with it); None: derived from the event.
    rule: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: ok, or an error kind and a detail that never holds a secret."""

    ok: bool
    status_code: int | None = None
    latency_ms: float | None = None
    error_kind: ErrorKind | None = None
    detail: str | None = None
    excerpt: str | None = None  # the start of the answer's body, secrets redacted (api_call records it)

    @classmethod
    def failure(cls, kind: ErrorKind, detail: str, **extra: Any) -> Outcome:
        return cls(False, error_kind=kind, detail=detail, **extra)

    @property
    def error(self) -> str | None:
        """The error line of a delivery result: `auth: HTTP 401 Unauthorized`."""
        return None if self.ok else f"{self.error_kind}: {self.detail}"

    def error_dict(self) -> dict[str, str] | None:
        """The `error` object of a channel test answer."""
        return None if self.ok else {"kind": str(self.error_kind), "detail": str(self.detail)}


def secret_values(channel: ChannelEntry) -> list[str]:
    """The channel's secret values, header values and URL credentials included (never in a result or a log line)."""
    return config_secrets(channel.type, channel.config)


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret value replaced by `***`, cut to a readable length."""
    return _hide(text, secrets)[:_MAX_DETAIL]


def excerpt(head: bytes, secrets: Iterable[str], limit: int = EXCERPT_BYTES) -> str:
    """The first `limit` bytes of an answer as text: undecodable bytes replaced, every secret value hidden.

    `head` should run past `limit` by the longest secret, so a secret cut at the boundary is still found.
    """
    text = _hide(head.decode("utf-8", errors="replace"), secrets)
    return text.encode()[:limit].decode("utf-8", errors="ignore")


def _hide(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "***")
    return text
