"""Real clients against `cep up`: Prometheus remote-writing its own metrics, and the OpenTelemetry SDK's OTLP/HTTP
exporters sending a gauge and a log record; each path ends with an event opened by a rule."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from services.common.cli.procs import free_port
from tests.support.processes import stop_process
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
PROMETHEUS = "prometheus"  # Debian's package (2.42); `make prometheus` installs it


@pytest.fixture(scope="module")
def editor(stack: Stack) -> tuple[str, str]:
    """A fresh tenant and its editor token."""
    tenant = f"telemetry-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "telemetry"})
    assert minted.status_code == 201, minted.text
    return tenant, str(minted.json()["token"])


def create_rule(api: httpx.Client, body: dict[str, Any]) -> str:
    created = api.post("/cep/rules", json={"active": True, "action_spec": [], **body})
    assert created.status_code == 201, created.text
    return str(created.json()["rule_id"])


def opened(api: httpx.Client, rule_id: str, timeout: float, why: Any = None) -> dict[str, Any]:
    """The first event the rule opened, waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = api.get("/cep/events", params={"rule_id": rule_id}).json()["items"]
        if items:
            return dict(items[0])
        time.sleep(0.5)
    raise AssertionError(f"no event for rule {rule_id} within {timeout} s; {why() if callable(why) else why}")


@pytest.fixture
def prometheus(stack: Stack, editor: tuple[str, str], tmp_path: Path) -> Iterator[Path]:
    """The real Prometheus scraping itself every second and remote-writing `up` and its build info to the stack."""
    if shutil.which(PROMETHEUS) is None:
        pytest.skip("`prometheus` is not installed (make prometheus installs Debian's package)")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
        "remote_write": [
            {
                "url": f"{stack.url}/api/v1/write",
                "authorization": {"type": "Bearer", "credentials": editor[1]},
                "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
                "write_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": "up|prometheus_build_info", "action": "keep"}
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        PROMETHEUS,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        stop_process(proc)


@pytest.mark.slow  # 6-30 s: `make test-slow` keeps `make test` under 10 minutes
def test_prometheus_remote_writes_its_own_up_metric_and_a_rule_opens_an_event(
    stack: Stack, editor: tuple[str, str], prometheus: Path
) -> None:
    with stack.client(editor[1]) as api:
        rule = {
            "name": "prometheus_is_up",
            "trigger_type": "metric",
            "trigger_spec": {"metric_name": "up", "operator": ">", "threshold": 0, "group_by": ["job"]},
        }
        event = opened(api, create_rule(api, rule), 90, lambda: prometheus.read_text()[-3000:])
    assert event["status"] == "open" and event["group_key"] == "job=prometheus"
    payload = event["payload"]
    assert payload["metric"] == "up" and payload["value"] == 1 and payload["job"] == "prometheus"
    assert payload["instance"].startswith("127.0.0.1:") and "__name__" not in payload


def test_the_otlp_sdk_sends_a_gauge_and_a_log_record_that_open_events(stack: Stack, editor: tuple[str, str]) -> None:
    token = {"Authorization": f"Bearer {editor[1]}"}
    resource = Resource.create({"service.name": "checkout", "host": "resource-host"})
    with stack.client(editor[1]) as api:
        gauge_rule = create_rule(
            api,
            {
                "name": "queue_too_deep",
                "trigger_type": "metric",
                "trigger_spec": {"metric_name": "queue.depth", "operator": ">", "threshold": 90, "group_by": ["host"]},
            },
        )
        log_rule = create_rule(
            api,
            {"name": "payment_failures", "trigger_type": "event", "trigger_spec": {"event_type": "payment_failed"}},
        )
        exporter = OTLPMetricExporter(endpoint=f"{stack.url}/v1/metrics", headers=token)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
        meters = MeterProvider(resource=resource, metric_readers=[reader])
        meters.get_meter("shop").create_gauge("queue.depth").set(97, {"host": "gt-01"})
        assert meters.force_flush(10_000)
        meters.shutdown()

        logs = LoggerProvider(resource=resource)
        logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(f"{stack.url}/v1/logs", headers=token)))
        logs.get_logger("shop").emit(
            timestamp=time.time_ns(),
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="payment failed",
            attributes={"event.name": "payment_failed", "order_id": "o-1"},
        )
        assert logs.force_flush(10_000)
        logs.shutdown()

        gauge_event = opened(api, gauge_rule, 30)
        log_event = opened(api, log_rule, 30)
    assert gauge_event["group_key"] == "host=gt-01"
    assert gauge_event["payload"]["metric"] == "queue.depth" and gauge_event["payload"]["value"] == 97
    assert gauge_event["payload"]["service_name"] == "checkout"
    payload = log_event["payload"]
    assert payload["message"] == "payment failed" and payload["severity"] == "high" and payload["order_id"] == "o-1"
