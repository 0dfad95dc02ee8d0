"""Channel senders, one module per channel type, and the registry the pipeline dispatches on (by channel type)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from services.notifier.channels import api_call, email, pagerduty, slack, webhook
from services.notifier.channels.base import Delivery, Outcome

Sender = Callable[[httpx.AsyncClient, Delivery], Awaitable[Outcome]]

# A new type: its module here, and `deliverable=True` in services/common/domain/notify/channel_types.py.
# email.send also takes `connect_host` (the egress guard's vetted IP) as a keyword; the call here leaves it out.
SENDERS: dict[str, Sender] = {
    "webhook": webhook.send,
    "slack": slack.send,
    "email": email.send,
    "pagerduty": pagerduty.send,
    "api_call": api_call.send,
}

# Incident tools de-duplicate by alert: they are told about each alert of a group batch on its own, get no storm
# digest (their incidents are the alerts themselves), and are the channels told about ACKs.
INCIDENT_TYPES = frozenset({"pagerduty"})


def sender_for(channel_type: str) -> Sender | None:
    """The sender of a channel type, or None while this build cannot deliver it."""
    return SENDERS.get(channel_type)
