"""The gateway's application state: one typed object that the app factory builds and the routes read.

The app factory (app.py) builds a `GatewayState` when the app starts (its lifespan) and keeps it on the app.
Routes, stores' callers and checks reach it through `state_of(request)`, never through attributes of the
untyped Starlette `app.state`, so mypy checks every field a route uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from services.gateway.rest.problems import Problem

if TYPE_CHECKING:  # the types only: these modules import this one (through auth and the routes)
    from services.common.db.sql_engine import Database
    from services.common.secrets.sealing import SecretBox
    from services.gateway.ack_sla import AckSlaCheck
    from services.gateway.daily_reports import DailyReports
    from services.gateway.instance_names import InstanceNames
    from services.gateway.live.feed import Feed
    from services.gateway.live.stream_slots import StreamSlots
    from services.gateway.live.stream_tickets import StreamTickets
    from services.gateway.nats.auth_callout import NatsAuthResponder
    from services.gateway.nats.bus import GatewayBus
    from services.gateway.nats.producer_sessions import ProducerSessions
    from services.gateway.oidc.sign_in import OidcSignIn
    from services.gateway.publishers.channel_publisher import ChannelPublisher
    from services.gateway.publishers.inhibit_rule_publisher import InhibitRulePublisher
    from services.gateway.publishers.notification_policy_publisher import NotificationPolicyPublisher
    from services.gateway.publishers.polling_publisher import PollingPublisher
    from services.gateway.publishers.quota_publisher import QuotaPublisher
    from services.gateway.publishers.rule_publisher import RulePublisher
    from services.gateway.publishers.silence_publisher import SilencePublisher
    from services.gateway.quota_limits import QuotaLimits
    from services.gateway.recorders.dead_letter_recorder import DeadLetterRecorder
    from services.gateway.recorders.event_recorder import Recorder
    from services.gateway.recorders.run_recorder import RunRecorder
    from services.gateway.routes.ingest import IngestLimits
    from services.gateway.rule_changes import RuleWriter
    from services.gateway.settings import GatewaySettings


@dataclass(frozen=True)
class GatewayState:
    """Everything a request handler of this replica may use: settings, stores, the bus and the components.

    The optional components are None when their setting is off (`CEP_ACK_SLA=off`, no auth callout seed, no
    system account URL).
    """

    settings: GatewaySettings
    secret_box: SecretBox  # no key, no gateway: channel secrets are never stored in the clear
    ingest_limits: IngestLimits  # per-tenant POST /cep/ingest budgets (the ingest_rate quota)
    stream_slots: StreamSlots  # open SSE streams per tenant on this replica (the sse_streams quota)
    stream_tickets: StreamTickets
    instance_names: InstanceNames  # how non-admins see scheduler instance ids
    db: Database
    bus: GatewayBus
    quotas: QuotaLimits  # each tenant's quotas in force
    rule_writer: RuleWriter
    feed: Feed
    recorder: Recorder
    run_recorder: RunRecorder
    dead_letter_recorder: DeadLetterRecorder
    daily_reports: DailyReports
    rule_publisher: RulePublisher
    channel_publisher: ChannelPublisher
    polling_publisher: PollingPublisher
    quota_publisher: QuotaPublisher
    silence_publisher: SilencePublisher
    inhibit_rule_publisher: InhibitRulePublisher
    notification_policy_publisher: NotificationPolicyPublisher
    ack_sla: AckSlaCheck | None = None
    nats_auth: NatsAuthResponder | None = None
    producer_sessions: ProducerSessions | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # the Alertmanager API's `uptime`
    oidc: OidcSignIn | None = None  # OIDC sign-in for the web UI, when CEP_OIDC_ISSUER is set


def started(app: Starlette) -> GatewayState | None:
    """The app's state, or None before it has started (readiness checks answer "not started" then)."""
    state: GatewayState | None = getattr(app.state, "gateway", None)
    return state


def state_of(holder: HTTPConnection | Starlette) -> GatewayState:
    """The state of the app serving this request (or of this app); a 503 problem before the app has started."""
    app = holder.app if isinstance(holder, HTTPConnection) else holder
    state = started(app)
    if state is None:
        raise Problem(503, "the gateway is starting; retry", kind="unavailable", headers={"Retry-After": "1"})
    return state


def keep(app: Starlette, state: GatewayState) -> None:
    """Attach the state to the app when it starts (it stays after the stop, for tests that look back)."""
    app.state.gateway = state
