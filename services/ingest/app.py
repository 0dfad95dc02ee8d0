"""The ingest service shell: the NATS connection, the router that feeds the evaluator's shards, NATS producers, and
the publisher that turns alert transitions into internal `cep.alert.*` events."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.ops import Check, CheckResult
from services.common.quota_book import QuotaBook
from services.common.service import NatsService
from services.ingest.alert_events import AlertEventPublisher
from services.ingest.producers import ProducerIngress
from services.ingest.router_pool import RouterPool
from services.ingest.settings import IngestSettings


class IngestService(NatsService):
    """Ingest: routes the raw event stream (persisted by HTTP ingest and NATS producers) to shard work."""

    name = "ingest"

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(settings)
        self.ingest_settings = settings
        self.router: RouterPool | None = None
        self.producers: ProducerIngress | None = None
        self.alert_events: AlertEventPublisher | None = None

    async def start(self) -> None:
        await super().start()
        assert self.nc is not None
        settings = self.ingest_settings
        self.router = RouterPool(
            self.nc,
            partitions=settings.router_partitions,
            default_shards=settings.shards,
            batch=settings.route_batch,
            lease_seconds=settings.router_lease_seconds,
        )
        await self.router.start()
        self.producers = ProducerIngress(self.nc, QuotaBook(settings.quota_defaults), settings.max_body_bytes)
        await self.producers.start()
        self.alert_events = AlertEventPublisher(self.nc)
        await self.alert_events.start()

    async def stop(self) -> None:
        if self.alert_events is not None:
            await self.alert_events.stop()
        if self.producers is not None:
            await self.producers.stop()
        if self.router is not None:
            await self.router.stop()
        await super().stop()

    def checks(self) -> Mapping[str, Check]:
        """Ready when connected to NATS, the router's and the alert-event publisher's consumers are bound and fetching,
        and producers are answered."""

        async def router() -> CheckResult:
            return CheckResult(False, "not started") if self.router is None else await self.router.check()

        async def producers() -> CheckResult:
            return CheckResult(False, "not started") if self.producers is None else await self.producers.check()

        async def alert_events() -> CheckResult:
            return CheckResult(False, "not started") if self.alert_events is None else self.alert_events.check()

        return {**super().checks(), "router": router, "producers": producers, "alert_events": alert_events}
