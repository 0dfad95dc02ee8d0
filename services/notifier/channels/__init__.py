"""Channel senders, one module per channel type, and the registry the pipeline dispatches on (by channel type)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from services.notifier.channels import webhook
from services.notifier.channels.base import Delivery, Outcome

Sender = Callable[[httpx.AsyncClient, Delivery], Awaitable[Outcome]]

# Add a type here (slack, email, pagerduty, api_call) and flip its `deliverable` in services/common/domain/channels.py.
SENDERS: dict[str, Sender] = {"webhook": webhook.send}


def sender_for(channel_type: str) -> Sender | None:
    """The sender of a channel type, or None while this build cannot deliver it."""
    return SENDERS.get(channel_type)
