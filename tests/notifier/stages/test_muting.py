"""The muting stage against real KV buckets on the session's nats-server, at literal times: silences (fixed,
expired, pending, recurring), inhibition (open sources, `equal` labels, resolution, self), tenants apart, and the
open-alert limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from services.common.domain.inhibition.source_index import OpenAlert
from services.common.messages.alerts import Action
from services.common.messages.muting import OpenAlertEntry
from services.common.nats import subjects
from services.notifier.delivery.directory import KvDirectory
from services.notifier.muting.open_alerts import ClosingMirror, OpenAlerts, sweep
from services.notifier.stages.base import Plan
from services.notifier.stages.cooldown import MarkStore
from services.notifier.stages.multistage import Alert, MultiStage
from services.notifier.stages.muting import MutingSources
from services.notifier.stages.storm import StormStore
from services.notifier.timed_jobs.groups import GroupStore
from tests.notifier.muting_entries import matcher, put_inhibit_rule, put_silence
from tests.notifier.running import transition
from tests.notifier.stages.conftest import NOON

NOW = datetime.fromtimestamp(NOON, UTC)  # 2025-05-01T12:00:00Z, a Thursday
ACTIONS = [Action(type="notify", channel="ops-hook")]
DB_DOWN = {"alertname": "db_down", "severity": "critical", "host": "db-1"}
API_SLOW = {"alertname": "api_slow", "severity": "warning", "host": "db-1"}


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _alert(tenant: str, labels: Mapping[str, str], *, kind: str = "fired", event_id: str | None = None) -> Alert:
    fired = transition(tenant, kind=kind, labels=dict(labels), event_id=event_id or uuid.uuid4().hex)
    return fired, ACTIONS


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the mirror never saw the change")


class Batches:
    """Batches through the real MultiStage at a settable clock; each plan is saved, as the service does."""

    def __init__(self, directory: KvDirectory, kv: KeyValue, muting: MutingSources) -> None:
        self.now = NOON
        self.multistage = MultiStage(
            directory, MarkStore(kv), StormStore(kv), GroupStore(kv), muting, clock=lambda: self.now
        )

    async def run(self, *alerts: Alert) -> Plan:
        plan = await self.multistage.plan(list(alerts))
        await self.multistage.save(plan, _no_timers)
        return plan


def _outcome(plan: Plan) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """(event ids of the jobs that go out, (event id, stage, status, reason) of each suppressed job)."""
    sent = [job.transition.event_id for job in plan.jobs]
    muted = [(s.result.event_id, s.by, s.result.status, s.result.reason or "") for s in plan.suppressed]
    return sent, muted


async def _no_timers(timers: object) -> None:
    raise AssertionError("no timer is due")


async def test_a_silence_mutes_its_tenants_alert_only(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a, b = _tenant(), _tenant()
    silence = await put_silence(
        js, a, [matcher("alertname", "db_down")], NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    )
    await _until(lambda: len(muting.silences.of_tenant(a)) == 1)
    mine, theirs = _alert(a, DB_DOWN, event_id="ea"), _alert(b, DB_DOWN, event_id="eb")
    plan = await Batches(directory, noise_kv, muting).run(mine, theirs)
    assert _outcome(plan) == (["eb"], [("ea", "muting", "suppressed", f"silenced by {silence}")])


async def test_expired_and_pending_silences_mute_nothing_and_a_resolution_is_muted_too(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a = _tenant()
    only = [matcher("alertname", "db_down")]
    await put_silence(js, a, only, NOW - timedelta(hours=2), NOW - timedelta(hours=1))  # expired (not yet reconciled)
    await put_silence(js, a, only, NOW + timedelta(hours=1), NOW + timedelta(hours=2))  # pending
    await _until(lambda: len(muting.silences.of_tenant(a)) == 2)
    batches = Batches(directory, noise_kv, muting)
    assert _outcome(await batches.run(_alert(a, DB_DOWN, event_id="e1"))) == (["e1"], [])
    active = await put_silence(js, a, only, NOW, NOW + timedelta(minutes=5))
    await _until(lambda: len(muting.silences.of_tenant(a)) == 3)
    resolved = _alert(a, DB_DOWN, kind="resolved", event_id="e1")
    assert _outcome(await batches.run(resolved)) == ([], [("e1", "muting", "suppressed", f"silenced by {active}")])
    batches.now = NOON + 301  # past the active one's end
    assert _outcome(await batches.run(_alert(a, DB_DOWN, kind="updated", event_id="e2"))) == (["e2"], [])


async def test_a_recurring_silence_mutes_only_inside_its_window(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a = _tenant()
    thursday_noon = {
        "timezone": "Europe/Berlin",
        "windows": [{"weekdays": ["thursday"], "times": [{"start_time": "14:00", "end_time": "15:00"}]}],
    }
    silence = await put_silence(js, a, [matcher("host", "db-.*", "=~")], NOW - timedelta(days=30), None, thursday_noon)
    await _until(lambda: len(muting.silences.of_tenant(a)) == 1)
    batches = Batches(directory, noise_kv, muting)
    inside = await batches.run(_alert(a, DB_DOWN, event_id="e1"))  # 12:00Z is 14:00 in Berlin (summer time)
    assert _outcome(inside) == ([], [("e1", "muting", "suppressed", f"silenced by {silence}")])
    batches.now = NOON + 3600  # 15:00 in Berlin: the end minute is outside
    assert _outcome(await batches.run(_alert(a, DB_DOWN, event_id="e2"))) == (["e2"], [])
    batches.now = NOON + 7 * 86400 + 60  # next Thursday, 14:01 in Berlin
    assert _outcome(await batches.run(_alert(a, DB_DOWN, event_id="e3")))[0] == []


async def test_an_open_source_inhibits_targets_with_equal_labels_until_it_resolves(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a = _tenant()
    await put_inhibit_rule(js, a, [matcher("alertname", "db_down")], [matcher("severity", "warning")], ["host"])
    await _until(lambda: len(muting.rules.of_tenant(a)) == 1)
    batches = Batches(directory, noise_kv, muting)
    source = _alert(a, DB_DOWN, event_id="src")
    same_host = _alert(a, API_SLOW, event_id="t1")
    other_host = _alert(a, {**API_SLOW, "host": "db-2"}, event_id="t2")
    plan = await batches.run(source, same_host, other_host)  # the source opens before the targets are decided
    assert _outcome(plan) == (["src", "t2"], [("t1", "muting", "suppressed", "inhibited by src")])
    assert set(muting.open_alerts.of_tenant(a)) == {"src", "t1", "t2"}
    again = await batches.run(_alert(a, API_SLOW, kind="updated", event_id="t1"))  # a later batch
    assert _outcome(again)[1] == [("t1", "muting", "suppressed", "inhibited by src")]
    plan = await batches.run(_alert(a, DB_DOWN, kind="resolved", event_id="src"))
    assert "src" not in muting.open_alerts.of_tenant(a)
    kv = await js.key_value(subjects.OPEN_ALERTS_BUCKET)
    assert [key async for key in _keys(kv, a)] == [f"{a}.t1", f"{a}.t2"]
    assert _outcome(await batches.run(_alert(a, API_SLOW, kind="updated", event_id="t1"))) == (["t1"], [])


async def test_an_alert_never_inhibits_itself_and_tenants_never_mix(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a, b = _tenant(), _tenant()
    await put_inhibit_rule(js, a, [matcher("host", "db-1")], [matcher("host", "db-1")])  # both sides: its own kind
    await put_inhibit_rule(js, b, [matcher("alertname", "db_down")], [matcher("alertname", "api_slow")])
    await _until(lambda: len(muting.rules.of_tenant(a)) == len(muting.rules.of_tenant(b)) == 1)
    batches = Batches(directory, noise_kv, muting)
    plan = await batches.run(_alert(a, DB_DOWN, event_id="a1"), _alert(a, API_SLOW, event_id="a2"))
    assert _outcome(plan) == (["a1", "a2"], [])  # each matches both sides: neither inhibits the other
    plan = await batches.run(_alert(a, DB_DOWN, event_id="a3"), _alert(b, API_SLOW, event_id="b1"))
    assert _outcome(plan) == (["a3", "b1"], [])  # a's db_down is no source for b


async def test_a_tenant_keeps_at_most_its_limit_of_open_alerts(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a = _tenant()
    limited = MutingSources(
        muting.silences, muting.rules, OpenAlerts(muting.open_alerts.kv, muting.open_alerts.mirror, 2)
    )
    await put_inhibit_rule(js, a, [matcher("alertname", "db_down")], [matcher("severity", "warning")], ["host"])
    await _until(lambda: len(muting.rules.of_tenant(a)) == 1)
    batches = Batches(directory, noise_kv, limited)
    first = [_alert(a, {"alertname": "cpu", "host": h}, event_id=f"c{n}") for n, h in enumerate(("x", "y"))]
    await batches.run(*first)
    plan = await batches.run(_alert(a, DB_DOWN, event_id="src"), _alert(a, API_SLOW, event_id="t1"))
    assert set(muting.open_alerts.of_tenant(a)) == {"c0", "c1"}  # the third open alert is not recorded
    assert _outcome(plan) == (["src", "t1"], [])  # so it inhibits nothing
    await batches.run(_alert(a, {"alertname": "cpu", "host": "x"}, kind="resolved", event_id="c0"))
    plan = await batches.run(
        _alert(a, DB_DOWN, kind="updated", event_id="src"), _alert(a, API_SLOW, kind="updated", event_id="t1")
    )
    assert _outcome(plan) == (["src"], [("t1", "muting", "suppressed", "inhibited by src")])


async def _keys(kv: KeyValue, tenant: str):  # type: ignore[no-untyped-def]
    watcher = await kv.watch(f"{tenant}.>")
    try:
        async for entry in watcher:
            if entry is None:
                return
            if entry.value:
                yield entry.key
    finally:
        await watcher.stop()


def test_a_lagging_watch_never_reopens_an_alert_closed_here() -> None:
    mirror = ClosingMirror()
    opened = OpenAlertEntry(OpenAlert("e1", {"alertname": "db_down"}), "r1").encode()
    mirror.apply("acme.e1", opened, deleted=False)
    mirror.remember_closed("acme.e1")
    mirror.apply("acme.e1", None, deleted=True)
    mirror.apply("acme.e1", opened, deleted=False)  # the watch delivers this process's own put after the close
    assert mirror.of_tenant("acme") == []


async def test_the_sweep_removes_the_delete_markers_closed_alerts_leave(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    a = _tenant()
    batches = Batches(directory, noise_kv, muting)
    await batches.run(_alert(a, DB_DOWN, event_id="gone"), _alert(a, API_SLOW, event_id="open"))
    await batches.run(_alert(a, DB_DOWN, kind="resolved", event_id="gone"))
    stream, prefix = f"KV_{subjects.OPEN_ALERTS_BUCKET}", f"$KV.{subjects.OPEN_ALERTS_BUCKET}.{a}"
    marker = await js.get_last_msg(stream, f"{prefix}.gone")
    assert marker.headers is not None and marker.headers.get("KV-Operation") == "DEL"
    assert await sweep(js, older_than=0) >= 1
    with pytest.raises(NotFoundError):
        await js.get_last_msg(stream, f"{prefix}.gone")
    assert (await js.get_last_msg(stream, f"{prefix}.open")).data  # an open alert stays
    assert set(muting.open_alerts.of_tenant(a)) == {"open"}
