"""The gateway application: REST routes, auth, problem+json errors, OpenAPI, and the database lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol

from fastapi import FastAPI

from services.common.db.migrate import upgrade_async
from services.common.db.sql_engine import open_database
from services.common.ops import Check, CheckResult, add_ops_routes
from services.gateway.ack_sla import AckSlaCheck
from services.gateway.auth import PLATFORM_TENANT
from services.gateway.daily_reports import DailyReports
from services.gateway.live.feed import Feed
from services.gateway.live.stream_slots import StreamSlots
from services.gateway.live.stream_tickets import StreamTickets, ticket_key
from services.gateway.nats.auth_callout import NatsAuthResponder
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.producer_sessions import ProducerSessions
from services.gateway.policy_checks import tenant_sla
from services.gateway.publishers.channel_publisher import ChannelPublisher
from services.gateway.publishers.polling_publisher import PollingPublisher
from services.gateway.publishers.quota_publisher import QuotaPublisher
from services.gateway.publishers.rule_publisher import RulePublisher
from services.gateway.quota_limits import QuotaLimits
from services.gateway.recorders.dead_letter_recorder import DeadLetterRecorder
from services.gateway.recorders.event_recorder import Recorder
from services.gateway.recorders.run_recorder import RunRecorder
from services.gateway.rest.limits import BodyLimitMiddleware
from services.gateway.rest.log_redaction import install_redaction
from services.gateway.rest.openapi import install_openapi
from services.gateway.rest.problems import install_problem_handlers
from services.gateway.routes import anomaly as anomaly_routes
from services.gateway.routes import (
    audit,
    channel_tools,
    channels,
    events,
    ingest,
    polling,
    rule_tools,
    rules,
    templates,
    tokens,
    trigger,
)
from services.gateway.routes import backtest as backtest_routes
from services.gateway.routes import dead_letters as dead_letter_routes
from services.gateway.routes import policies as policy_routes
from services.gateway.routes import quotas as quota_routes
from services.gateway.routes import scheduler as scheduler_routes
from services.gateway.routes import stats as stats_routes
from services.gateway.routes.ingest import IngestLimits
from services.gateway.rule_changes import RuleHook, RuleWriter
from services.gateway.settings import GatewaySettings
from services.gateway.store.tokens import ensure_tenant
from services.gateway.ui import install_ui

API_VERSION = "0.1.0"


class Component(Protocol):
    """A background part of the gateway (the recorder, ...), started after the database and the bus."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def create_app(settings: GatewaySettings, *, extra_ready_checks: Mapping[str, Check] | None = None) -> FastAPI:
    """Build the gateway app; the database is opened and migrated when the app starts (its lifespan).

    `app.state.rule_hooks` is a list of async callables run after every committed rule change (before the
    response returns), so listeners such as the rule KV publisher see each change in order.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        await upgrade_async(url)
        db = open_database(url)
        async with db.write() as session:
            await ensure_tenant(session, PLATFORM_TENANT, datetime.now(UTC))
        app.state.db = db
        bus = GatewayBus(settings.nats_url)
        app.state.bus = bus
        publisher = RulePublisher(bus, db)
        app.state.quotas = QuotaLimits(db, settings.quota_defaults)  # each tenant's quotas in force
        app.state.rule_writer = RuleWriter(db, [publisher, *app.state.rule_hooks], quotas=app.state.quotas)
        await bus.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(publisher.keep_reconciled(stop), name="rule-reconciler")]
        # Background parts, started in order after the database and the bus, stopped in reverse.
        feed = Feed(bus, db)
        app.state.feed = feed
        app.state.recorder = Recorder(bus, db, feed)
        components: list[Component] = [app.state.recorder]
        # Mirrors channels into their KV bucket (secrets sealed), reconciles; re-seals stored secrets at start.
        components.append(ChannelPublisher(bus, db, app.state.secret_box))
        app.state.run_recorder = RunRecorder(bus, db)  # schedule run records -> schedule_runs
        components.append(app.state.run_recorder)
        app.state.dead_letter_recorder = DeadLetterRecorder(bus, db)  # CEP_DEAD -> dead_letters, rule error state
        components.append(app.state.dead_letter_recorder)
        components.append(PollingPublisher(bus, db))  # mirrors polling targets into their KV bucket, reconciles
        app.state.quota_publisher = QuotaPublisher(bus, db, settings.quota_defaults)  # tenants' quotas -> KV
        components.append(app.state.quota_publisher)
        app.state.daily_reports = DailyReports(bus, db)  # answers the notifier's Daily Report requests from SQL
        components.append(app.state.daily_reports)
        if settings.ack_sla_policy.enabled:  # open events past their ACK SLA -> cep.ack.sla_breached
            sla = tenant_sla(db, settings.ack_sla_policy)  # a tenant's ack_sla policy overrides CEP_ACK_SLA
            app.state.ack_sla = AckSlaCheck(bus, db, feed, sla, settings.ack_sla_sweep_seconds)
            components.append(app.state.ack_sla)
        if settings.nats_auth_issuer_seed is not None:  # nats-server asks us about producers (auth callout)
            seed = settings.nats_auth_issuer_seed.get_secret_value()
            app.state.nats_auth = NatsAuthResponder(bus, db, seed, settings.admin_token, settings.max_body_bytes)
            components.append(app.state.nats_auth)
        if settings.nats_system_url is not None:  # closes revoked and expired producers' connections
            system_url = settings.nats_system_url.get_secret_value()
            app.state.producer_sessions = ProducerSessions(system_url, db, settings.producer_sweep_seconds)
            components.append(app.state.producer_sessions)
        for component in components:
            await component.start()
        try:
            yield
        finally:
            for component in reversed(components):
                with contextlib.suppress(Exception):
                    await component.stop()
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)  # before the database closes under them
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
    app.state.settings = settings
    app.state.secret_box = settings.secret_box()  # no key, no gateway: channel secrets are never stored in the clear
    app.state.ingest_limits = IngestLimits()  # per-tenant POST /cep/ingest budgets (the ingest_rate quota)
    app.state.stream_slots = StreamSlots()  # open SSE streams per tenant on this replica (the sse_streams quota)
    app.state.stream_tickets = StreamTickets(ticket_key(settings), settings.stream_ticket_seconds)
    install_redaction()  # no access_token or ticket query value in request logs
    hooks: list[RuleHook] = []
    app.state.rule_hooks = hooks
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
    install_ui(app)  # the web UI pages (/cep-builder, ...) and /ui/static

    async def nats() -> CheckResult:
        bus = getattr(app.state, "bus", None)
        return CheckResult(False, "not started") if bus is None else await bus.check()

    async def database() -> CheckResult:
        db = getattr(app.state, "db", None)
        if db is None:
            return CheckResult(False, "not started")
        await db.ping()
        return CheckResult(True)

    async def recorder() -> CheckResult:
        component = getattr(app.state, "recorder", None)
        return CheckResult(False, "not started") if component is None else await component.check()

    async def run_recorder() -> CheckResult:
        component = getattr(app.state, "run_recorder", None)
        return CheckResult(False, "not started") if component is None else await component.check()

    async def nats_auth() -> CheckResult:
        component = getattr(app.state, "nats_auth", None)
        return CheckResult(False, "not started") if component is None else await component.check()

    async def producer_sessions() -> CheckResult:
        component = getattr(app.state, "producer_sessions", None)
        return CheckResult(False, "not started") if component is None else await component.check()

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
