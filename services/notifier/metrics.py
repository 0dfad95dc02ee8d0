"""The notifier's Prometheus counters: attempts, suppressions, storm digests and channel tests."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "cep_deliveries_total", "delivery attempts by channel type and outcome", ["channel_type", "status"]
)
SUPPRESSED = Counter("cep_notifications_suppressed_total", "notifications a noise stage stopped, by stage", ["stage"])
DIGESTS = Counter("cep_storm_digests_total", "storm digests sent, by outcome", ["status"])
CHANNEL_TESTS = Counter("cep_channel_tests_total", "channel tests by channel type and outcome", ["channel_type", "ok"])
OPEN_ALERTS_REFUSED = Counter(
    "cep_open_alerts_refused_total", "open alerts not recorded for inhibition: the tenant's limit was reached"
)
