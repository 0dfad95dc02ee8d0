"""The gateway application: REST routes, auth, problem+json errors, OpenAPI, and the database lifecycle."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol, TypedDict

from fastapi import FastAPI

from services.common.db.migrate import upgrade_async
from services.common.db.sql_engine import Database, open_database
from services.common.ops import Check, CheckResult, add_ops_routes
from services.gateway.ack_sla import AckSlaCheck
from services.gateway.auth import PLATFORM_TENANT
from services.gateway.catch_up import PipelineCatchUp
from services.gateway.daily_reports import DailyReports
from services.gateway.instance_names import InstanceNames
from services.gateway.live.feed import Feed
from services.gateway.live.stream_slots import StreamSlots
from services.gateway.live.stream_tickets import StreamTickets, ticket_key
from services.gateway.nats.auth_callout import NatsAuthResponder
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.producer_sessions import ProducerSessions
from services.gateway.oidc import routes as oidc_routes
from services.gateway.oidc.sign_in import OidcSignIn
from services.gateway.policy_checks import tenant_sla
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
from services.gateway.rest.limits import BodyLimitMiddleware
from services.gateway.rest.log_redaction import install_redaction
from services.gateway.rest.openapi import install_openapi
from services.gateway.rest.problems import install_problem_handlers
from services.gateway.routes import (
    alertmanager_alerts,
    alertmanager_silences,
    alertmanager_status,
    audit,
    channel_tools,
    channels,
    events,
    ingest,
    inhibit_rules,
    polling,
    rule_tools,
    rules,
    silences,
    telemetry_ingest,
    templates,
    tokens,
    trigger,
)
from services.gateway.routes import anomaly as anomaly_routes
from services.gateway.routes import backtest as backtest_routes
from services.gateway.routes import dead_letters as dead_letter_routes
from services.gateway.routes import notification_policies as notification_policy_routes
from services.gateway.routes import policies as policy_routes
from services.gateway.routes import quotas as quota_routes
from services.gateway.routes import scheduler as scheduler_routes
from services.gateway.routes import stats as stats_routes
from services.gateway.routes.ingest import IngestLimits
from services.gateway.rule_changes import RuleHook, RuleWriter
from services.gateway.settings import GatewaySettings
from services.gateway.state import GatewayState, keep, started
from services.gateway.store.tokens import ensure_tenant
from services.gateway.ui import install_ui

API_VERSION = "0.1.0"


class Component(Protocol):
    """A background part of the gateway (the recorder, ...), started after the database and the bus."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Checked(Protocol):
    """A component the readiness probe asks."""

    async def check(self) -> CheckResult: ...


class OptionalParts(TypedDict, total=False):
    """The components that run only when their setting is on."""

    ack_sla: AckSlaCheck
    nats_auth: NatsAuthResponder
    producer_sessions: ProducerSessions


def _optional_components(settings: GatewaySettings, bus: GatewayBus, db: Database, feed: Feed) -> OptionalParts:
    optional = OptionalParts()
    if settings.ack_sla_policy.enabled:  # open events past their ACK SLA -> cep.ack.sla_breached
        sla = tenant_sla(db, settings.ack_sla_policy)  # a tenant's ack_sla policy overrides CEP_ACK_SLA
        catch_up = PipelineCatchUp(bus, settings.evaluator_url) if settings.ack_sla_catch_up else None
        optional["ack_sla"] = AckSlaCheck(bus, db, feed, sla, settings.ack_sla_sweep_seconds, catch_up)
    if settings.nats_auth_issuer_seed is not None:  # nats-server asks us about producers (auth callout)
        seed = settings.nats_auth_issuer_seed.get_secret_value()
        optional["nats_auth"] = NatsAuthResponder(bus, db, seed, settings.admin_token, settings.max_body_bytes)
    if settings.nats_system_url is not None:  # closes revoked and expired producers' connections
        system_url = settings.nats_system_url.get_secret_value()
        optional["producer_sessions"] = ProducerSessions(system_url, db, settings.producer_sweep_seconds)
    return optional


def create_app(
    settings: GatewaySettings,
    *,
    extra_ready_checks: Mapping[str, Check] | None = None,
    rule_hooks: Sequence[RuleHook] = (),
) -> FastAPI:
    """Build the gateway app; the database is opened and migrated when the app starts (its lifespan).

    `rule_hooks` are async callables run after every committed rule change (before the response returns), after
    the rule publisher, so listeners see each change in order. The routes reach what the lifespan builds through
    `state_of(request)` (state.py).
    """
    secret_box = settings.secret_box()  # no key, no gateway: channel secrets are never stored in the clear
    ingest_limits = IngestLimits()
    stream_slots = StreamSlots()
    stream_tickets = StreamTickets(ticket_key(settings), settings.stream_ticket_seconds)
    instance_names = InstanceNames.from_settings(settings)
    oidc = OidcSignIn.from_settings(settings.oidc, settings.state_dir) if settings.oidc.enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        await upgrade_async(url)
        db = open_database(url)
        async with db.write() as session:
            await ensure_tenant(session, PLATFORM_TENANT, datetime.now(UTC))
        bus = GatewayBus(settings.nats_url)
        rule_publisher = RulePublisher(bus, db)
        quotas = QuotaLimits(db, settings.quota_defaults)
        feed = Feed(bus, db)
        optional = _optional_components(settings, bus, db, feed)
        state = GatewayState(
            settings=settings,
            secret_box=secret_box,
            ingest_limits=ingest_limits,
            stream_slots=stream_slots,
            stream_tickets=stream_tickets,
            instance_names=instance_names,
            db=db,
            bus=bus,
            quotas=quotas,
            rule_writer=RuleWriter(db, [rule_publisher, *rule_hooks], quotas=quotas),
            feed=feed,
            recorder=Recorder(bus, db, feed, settings.annotation_render_seconds),
            run_recorder=RunRecorder(bus, db),  # schedule run records -> schedule_runs
            dead_letter_recorder=DeadLetterRecorder(bus, db),  # CEP_DEAD -> dead_letters, rule error state
            daily_reports=DailyReports(bus, db),  # answers the notifier's Daily Report requests from SQL
            rule_publisher=rule_publisher,
            # Channels with their secrets sealed; at start it re-seals stored secrets with the first key.
            channel_publisher=ChannelPublisher(bus, db, secret_box),
            polling_publisher=PollingPublisher(bus, db),
            quota_publisher=QuotaPublisher(bus, db, settings.quota_defaults),  # tenants' effective quotas
            silence_publisher=SilencePublisher(bus, db),
            inhibit_rule_publisher=InhibitRulePublisher(bus, db),
            oidc=oidc,  # OIDC sign-in for the web UI (CEP_OIDC_ISSUER), else None
            notification_policy_publisher=NotificationPolicyPublisher(bus, db),  # routing trees per tenant
            **optional,
        )
        keep(app, state)
        await bus.start()
        # Background parts, started in order after the database and the bus, stopped in reverse.
        components: list[Component] = [
            state.rule_publisher,
            state.recorder,
            state.channel_publisher,
            state.run_recorder,
            state.dead_letter_recorder,
            state.polling_publisher,
            state.quota_publisher,
            state.silence_publisher,
            state.inhibit_rule_publisher,
            state.notification_policy_publisher,
            state.daily_reports,
        ]
        optional_parts: list[Component | None] = [state.ack_sla, state.nats_auth, state.producer_sessions]
        components += [component for component in optional_parts if component is not None]
        for component in components:
            await component.start()
        try:
            yield
        finally:
            for component in reversed(components):
                with contextlib.suppress(Exception):
                    await component.stop()
            await bus.stop()
            await db.dispose()

    app = FastAPI(
        title="CEP gateway",
        version=API_VERSION,
        description="Rules, events, channels and operations of the CEP platform. Errors are application/problem+json.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_redaction()  # no access_token or ticket query value in request logs
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Static paths (/cep/rules/preview, /form, /simulate) before the parameterised /cep/rules/{rule_id}.
    # /cep/events/stream and /cep/events/stream/ticket before /cep/events/{event_id}... (events.router, in order).
    app.include_router(backtest_routes.router)  # POST /cep/rules/backtest, static: before /cep/rules/{rule_id}
    app.include_router(anomaly_routes.router)  # /cep/rules/{rule_id}/anomaly-status, /precision
    for router in (rule_tools.router, rules.router, tokens.router, audit.router, ingest.router, events.router):
        app.include_router(router)
    # /cep/channels/types, /status, /test (channel_tools) before /cep/channels/{channel_id} (channels).
    for router in (channel_tools.router, channels.router):
        app.include_router(router)
    app.include_router(trigger.router)  # POST /cep/rules/{rule_id}/trigger
    app.include_router(scheduler_routes.router)  # /cep/scheduler/status, /instances, /runs
    # /cep/scheduler/metric-polling/snapshots/latest before /cep/scheduler/metric-polling/{target_id} (same router).
    app.include_router(polling.router)
    app.include_router(templates.router)  # POST /cep/templates/preview
    app.include_router(stats_routes.router)  # /cep/stats/daily, /weekly: the operations dashboard
    app.include_router(policy_routes.router)  # /cep/settings: team policies
    app.include_router(quota_routes.router)  # /cep/quotas, /cep/admin/quotas/{tenant}
    app.include_router(dead_letter_routes.router)  # /cep/dead-letters: list, read, replay, delete (admins)
    # /cep/silences/preview and /cep/inhibit-rules/preview before the parameterised routes (same routers).
    for router in (silences.router, inhibit_rules.router):
        app.include_router(router)
    # Alertmanager's v2 API (docs/alertmanager.md): alerts, silences, status and receivers.
    for router in (alertmanager_alerts.router, alertmanager_silences.router, alertmanager_status.router):
        app.include_router(router)
    app.include_router(telemetry_ingest.router)  # /api/v1/write (Prometheus), /v1/metrics and /v1/logs (OTLP)
    app.include_router(oidc_routes.router)  # /cep/auth/oidc/login, /callback, /cep/auth/session, /cep/auth/logout
    # /cep/notification-policies: the routing tree; /versions and /test are static paths of the same router.
    app.include_router(notification_policy_routes.router)
    install_ui(app, oidc_routes.shell_context)  # the web UI pages (/cep-builder, ...) and /ui/static

    async def nats() -> CheckResult:
        state = started(app)
        return CheckResult(False, "not started") if state is None else await state.bus.check()

    async def database() -> CheckResult:
        state = started(app)
        if state is None:
            return CheckResult(False, "not started")
        await state.db.ping()
        return CheckResult(True)

    def component_check(name: str) -> Check:
        async def check() -> CheckResult:
            state = started(app)
            component: Checked | None = getattr(state, name) if state is not None else None
            return CheckResult(False, "not started") if component is None else await component.check()

        return check

    recorder, run_recorder = component_check("recorder"), component_check("run_recorder")
    nats_auth, producer_sessions = component_check("nats_auth"), component_check("producer_sessions")
    checks = {
        "database": database,
        "nats": nats,
        "recorder": recorder,
        "run_recorder": run_recorder,
        **(extra_ready_checks or {}),
    }
    if settings.nats_auth_issuer_seed is not None:  # producers cannot connect until it answers
        checks["nats_auth"] = nats_auth
    if settings.nats_system_url is not None:
        checks["producer_sessions"] = producer_sessions
    add_ops_routes(app, service="gateway", checks=checks)
    install_openapi(app)
    return app
