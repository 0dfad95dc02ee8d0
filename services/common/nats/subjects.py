"""Every NATS subject, stream, consumer and KV bucket name of the platform, in one place.

The map (who writes, who reads, retention) is in docs/architecture.md; keep the two in step.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

TENANT_PATTERN = re.compile(r"^[a-z0-9-]{1,63}$")
RULE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # rule ids that may become subject tokens and KV keys

# -- streams ----------------------------------------------------------------------------------------------
EVENTS_STREAM = "CEP_EVENTS"  # raw input: user events, internal events, rule changes, in arrival order
WORK_STREAM = "CEP_WORK"  # per-shard input of the evaluator: routed events, rule changes, ticks, triggers
ALERTS_STREAM = "CEP_ALERTS"  # alert transitions (Nats-Msg-Id = transition id)
DELIVERY_STREAM = "CEP_DELIVERY"  # notification jobs, one per (transition, action)
RESULTS_STREAM = "CEP_RESULTS"  # delivery attempt results, read by the recorder
DEAD_STREAM = (
    "CEP_DEAD"  # dead letters (services/common/nats/dead_letters.py) and MAX_DELIVERIES advisories, for replay
)
FEED_STREAM_PREFIX = "CEP_FEED_"  # one feed stream per tenant; its sequence is the SSE id
SCHEDULE_RUNS_STREAM = "CEP_SCHEDULE_RUNS"  # one record per schedule run (fired, caught up or missed)

# -- subjects ---------------------------------------------------------------------------------------------
INGEST_PREFIX = "cep.ingest"  # cep.ingest.<tenant>: what producers publish (tenant users may only use theirs)
INTERNAL_PREFIX = "cep.internal"  # cep.internal.<tenant>: events the platform emits (cep.* types, triggers)
CONTROL_RULES = "cep.control.rules"  # rule changes, in order with the events they must precede
WORK_PREFIX = "cep.work"  # cep.work.<shard>
WORK_EPOCH = "cep.work.epoch"  # the router's marker: work after it is routed with that shard-map epoch
ALERTS_PREFIX = "cep.alerts"  # cep.alerts.<tenant>
ACKS_PREFIX = "cep.acks"  # cep.acks.<tenant>: ACK notices (in ALERTS_STREAM), published by the gateway's feed
DEAD_PREFIX = "cep.dead"  # cep.dead.<tenant>: dead letters
MAX_DELIVERIES_ADVISORIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"  # .<stream>.<consumer>, kept in DEAD_STREAM
DELIVERY_PREFIX = "cep.deliver"  # cep.deliver.<tenant>
RESULTS_PREFIX = "cep.results"  # cep.results.<tenant>
FEED_PREFIX = "cep.feed"  # cep.feed.<tenant>
TRIGGER_REPLY_PREFIX = "cep.trigger.reply"  # cep.trigger.reply.<request id>: core NATS, not stored
CHANNEL_TEST = "cep.notifier.test"  # core NATS request/reply: the gateway asks the notifier to test a channel
NOTIFIER_QUEUE = "notifier"  # queue group of the notifier replicas on CHANNEL_TEST
DAILY_REPORT = "cep.reports.daily"  # core NATS request/reply: the notifier asks the gateway for a Daily Report
GATEWAY_REPORTS_QUEUE = "gateway-reports"  # queue group of the gateway replicas on DAILY_REPORT
SCHEDULE_RUNS_PREFIX = "cep.scheduler.runs"  # cep.scheduler.runs.<tenant>.<rule_id>: run records
AUTH_CALLOUT = "$SYS.REQ.USER.AUTH"  # core NATS: nats-server asks the gateway about a connecting producer
AUTH_CALLOUT_QUEUE = "cep-nats-auth"  # queue group of the gateway replicas answering AUTH_CALLOUT
PRODUCER_INBOX_PREFIX = "_INBOX_"  # _INBOX_<tenant>: a producer's inboxes (PubAcks); never the platform's _INBOX
PRODUCE_PREFIX = "cep.produce"  # cep.produce.<tenant>: producers' publishes as they reach the platform (ingest answers)
PRODUCE_QUEUE = "ingest-producers"  # queue group of the ingest replicas answering PRODUCE_PREFIX

# -- NATS accounts (cep up's nats.conf, k8s/base/nats.yaml, compose) -------------------------------------------
PLATFORM_ACCOUNT = "CEP"  # every service, JetStream, the auth callout
PRODUCERS_ACCOUNT = "PRODUCERS"  # every admitted producer; imports only the ingest service (docs/security.md)
SYSTEM_ACCOUNT = "SYS"  # the server's system account: connection lists and kicks

# -- durable consumers ------------------------------------------------------------------------------------
ROUTER_CONSUMER = "router"  # on EVENTS_STREAM, in the ingest service
RECORDER_CONSUMER = "recorder"  # on ALERTS_STREAM, in the gateway
RESULTS_CONSUMER = "recorder-results"  # on RESULTS_STREAM, in the gateway
NOTIFIER_CONSUMER = "notifier"  # on ALERTS_STREAM, in the notifier
DELIVERY_CONSUMER = "deliverer"  # on DELIVERY_STREAM, in the notifier
NOTIFIER_ACKS_CONSUMER = "notifier-acks"  # on ALERTS_STREAM (filter cep.acks.*), in the notifier
SCHEDULE_RUNS_CONSUMER = "recorder-schedule-runs"  # on SCHEDULE_RUNS_STREAM, in the gateway
DEAD_LETTERS_CONSUMER = "recorder-dead-letters"  # on DEAD_STREAM (every subject), in the gateway
SHARD_CONSUMER_PREFIX = "shard"  # shard-<n> on WORK_STREAM (filter cep.work.<n>), in evaluator shard <n>

# -- KV buckets -------------------------------------------------------------------------------------------
RULES_BUCKET = "cep-rules"  # key <tenant>.<rule_id>: canonical rule JSON (system of record is SQL)
CHANNELS_BUCKET = "cep-channels"  # key <tenant>.<channel_id>: channel with secrets, for the notifier;
# key <tenant>.name.<base64url name>: the id of the live channel of that name
SNAPSHOTS_BUCKET = "cep-snapshots"  # key shard-<n>: engine snapshot + the work-stream sequence it covers
# (a snapshot over one value: a manifest there, its parts under shard-<n>.part-<generation>-<k>)
NOISE_BUCKET = "cep-noise"  # key <tenant>.<rule_id>: storm window; <tenant>.<rule_id>.<fingerprint>: cooldown
SENT_BUCKET = "cep-sent"  # key <job id>: delivered (a redelivered job is not sent again)
CONTROL_BUCKET = "cep-control"  # key shard-map: {"epoch", "shards"} published by the evaluator driver
SHARD_MAP_KEY = "shard-map"
SCHEDULER_BUCKET = "cep-scheduler"  # key cursor.<tenant>.<rule_id>: {"last", "version", "fencing"} of each schedule
SCHEDULER_LIVE_BUCKET = "cep-scheduler-live"  # TTL = the lease period: key `leader` (the lease), instance.<id>
SCHEDULER_LEADER_KEY = "leader"
ROUTER_LIVE_BUCKET = "cep-router-live"  # TTL = the router lease period: key `router` = the active ingest replica
ROUTER_LEASE_KEY = "router"
POLLING_BUCKET = "cep-polling"  # key <tenant>.<target_id>: a metric-polling target (mirrored from SQL by the gateway)
POLLING_SNAPSHOTS_BUCKET = "cep-polling-snapshots"  # key <tenant>.<target_id>: the latest poll's snapshot
# key <tenant>: the tenant's effective quotas (domain/quotas/tenant_quotas.py), from the gateway
QUOTAS_BUCKET = "cep-quotas"
# key <tenant>.<silence_id>: a silence that is not expired (mirrored from SQL by the gateway, for the notifier)
SILENCES_BUCKET = "cep-silences"
INHIBIT_RULES_BUCKET = "cep-inhibit-rules"  # key <tenant>.<rule_id>: an inhibit rule (mirrored from SQL)
# key <tenant>: the tenant's notification policy {tenant, version, policy} (docs/alertmanager.md), from the gateway
NOTIFICATION_POLICIES_BUCKET = "cep-notification-policies"
# key <tenant>.<event_id>: an open alert's labels, written by the notifier for inhibition
OPEN_ALERTS_BUCKET = "cep-open-alerts"

# -- headers ----------------------------------------------------------------------------------------------
MSG_ID = "Nats-Msg-Id"
RECEIVED_AT = "Cep-Received-At"
TRIGGER_RULE = "Cep-Trigger-Rule"
TRIGGER_REPLY = "Cep-Trigger-Reply"
CONTENT_TYPE = "Content-Type"  # a NATS producer may send `application/x-ndjson` (one event per line)


def valid_tenant(tenant: str) -> bool:
    """Tenant names become subject tokens and stream names: `[a-z0-9-]{1,63}` only."""
    return bool(TENANT_PATTERN.match(tenant))


def _token(tenant: str) -> str:
    if not valid_tenant(tenant):
        raise ValueError(f"invalid tenant name {tenant!r}")
    return tenant


def ingest_subject(tenant: str) -> str:
    return f"{INGEST_PREFIX}.{_token(tenant)}"


def produce_subject(tenant: str) -> str:
    """Where a producer's publish to `cep.ingest.<tenant>` arrives in the platform account (the import maps it)."""
    return f"{PRODUCE_PREFIX}.{_token(tenant)}"


def producer_inbox_prefix(tenant: str) -> str:
    """The inbox prefix a tenant's NATS producers must use (`inbox_prefix=`): the only subjects they may read."""
    return f"{PRODUCER_INBOX_PREFIX}{_token(tenant)}"


def internal_subject(tenant: str) -> str:
    return f"{INTERNAL_PREFIX}.{_token(tenant)}"


def work_subject(shard: int) -> str:
    return f"{WORK_PREFIX}.{int(shard)}"


def alerts_subject(tenant: str) -> str:
    return f"{ALERTS_PREFIX}.{_token(tenant)}"


def acks_subject(tenant: str) -> str:
    return f"{ACKS_PREFIX}.{_token(tenant)}"


def dead_subject(tenant: str) -> str:
    return f"{DEAD_PREFIX}.{_token(tenant)}"


def delivery_subject(tenant: str) -> str:
    return f"{DELIVERY_PREFIX}.{_token(tenant)}"


def results_subject(tenant: str) -> str:
    return f"{RESULTS_PREFIX}.{_token(tenant)}"


def feed_subject(tenant: str) -> str:
    return f"{FEED_PREFIX}.{_token(tenant)}"


def feed_stream(tenant: str) -> str:
    return f"{FEED_STREAM_PREFIX}{_token(tenant)}"


def tenant_of(subject: str) -> str:
    """The tenant token of a `prefix.<tenant>` subject (`cep.ingest.team-a` -> `team-a`)."""
    return subject.rsplit(".", 1)[-1]


# The subject shapes that belong to one tenant: the prefix, then the tenant token, then this many more tokens.
_TENANT_SHAPES: tuple[tuple[str, int], ...] = (
    (INGEST_PREFIX, 0),
    (INTERNAL_PREFIX, 0),
    (ALERTS_PREFIX, 0),
    (ACKS_PREFIX, 0),
    (DEAD_PREFIX, 0),
    (DELIVERY_PREFIX, 0),
    (RESULTS_PREFIX, 0),
    (FEED_PREFIX, 0),
    (PRODUCE_PREFIX, 0),
    (SCHEDULE_RUNS_PREFIX, 1),  # cep.scheduler.runs.<tenant>.<rule_id>
)


def owning_tenant(subject: str, body: Mapping[str, Any] | None = None) -> str | None:
    """The tenant a message belongs to, or None when it is the platform's own (its dead letters are the platform's).

    Only the known tenant shapes count (`cep.alerts.<tenant>`, `cep.scheduler.runs.<tenant>.<rule>`, ...), with a
    valid tenant token; a work message (`cep.work.<shard>`) belongs to the one tenant its `body` names. Every other
    subject (`cep.control.rules`, `cep.work.epoch`, `$KV...`) is the platform's, whatever its last token looks like.
    """
    for prefix, after in _TENANT_SHAPES:
        if subject.startswith(prefix + "."):
            tokens = subject[len(prefix) + 1 :].split(".")
            return tokens[0] if len(tokens) == 1 + after and valid_tenant(tokens[0]) else None
    shard = subject.removeprefix(WORK_PREFIX + ".")
    if shard != subject and shard.isdigit() and body is not None:
        return _work_tenant(body)
    return None


def _work_tenant(body: Mapping[str, Any]) -> str | None:
    """The one tenant of a work message: its event's, its rule change's, or that of every event of a batch."""
    kind = body.get("kind")
    if kind in ("trigger", "event"):
        found = [body.get("event")]
    elif kind == "rule":
        found = [body.get("change")]
    elif kind == "events" and isinstance(body.get("events"), list):
        found = [item.get("event") if isinstance(item, dict) else None for item in body["events"]]
    else:
        return None  # a tick, or nothing a shard would read
    tenants = {part.get("tenant") if isinstance(part, dict) else None for part in found}
    tenant = tenants.pop() if len(tenants) == 1 else None
    return tenant if isinstance(tenant, str) and valid_tenant(tenant) else None


def rule_key(tenant: str, rule_id: str) -> str:
    return f"{_token(tenant)}.{rule_id}"


def channel_key(tenant: str, channel_id: str) -> str:
    return f"{_token(tenant)}.{channel_id}"


def channel_name_key(tenant: str, name: str) -> str:
    """`<tenant>.name.<name as unpadded base64url>`: resolves a channel name to its id (names may hold any text)."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    return f"{_token(tenant)}.name.{encoded}"


def snapshot_key(shard: int) -> str:
    return f"shard-{int(shard)}"


def shard_consumer(shard: int) -> str:
    return f"{SHARD_CONSUMER_PREFIX}-{int(shard)}"


def schedule_runs_subject(tenant: str, rule_id: str) -> str:
    """One subject per rule, so a new leader reads each rule's last record (`LAST_PER_SUBJECT`)."""
    if not RULE_ID_PATTERN.match(rule_id):
        raise ValueError(f"invalid rule id {rule_id!r}")
    return f"{SCHEDULE_RUNS_PREFIX}.{_token(tenant)}.{rule_id}"


def scheduler_cursor_key(tenant: str, rule_id: str) -> str:
    return f"cursor.{_token(tenant)}.{rule_id}"


def scheduler_instance_key(instance: str) -> str:
    """`instance.<id>` with every character a KV key may not hold replaced by `_`."""
    return "instance." + re.sub(r"[^A-Za-z0-9_=-]", "_", instance)


def polling_key(tenant: str, target_id: str) -> str:
    """`<tenant>.<target_id>` in the polling and snapshot buckets (target ids are `[A-Za-z0-9_-]`)."""
    if not RULE_ID_PATTERN.match(target_id):
        raise ValueError(f"invalid target id {target_id!r}")
    return f"{_token(tenant)}.{target_id}"


def tenant_item_key(tenant: str, item_id: str) -> str:
    """`<tenant>.<id>` in the silences and inhibit-rules buckets (ids are `[A-Za-z0-9_-]`: UUIDs, hex)."""
    if not RULE_ID_PATTERN.match(item_id):
        raise ValueError(f"invalid id {item_id!r}")
    return f"{_token(tenant)}.{item_id}"


def polling_msg_id(target_id: str, polled_ms: int, batch: int) -> str:
    """`poll:<target_id>:<poll time in ms>:<batch>`: one message per batch of a poll's samples."""
    return f"poll:{target_id}:{polled_ms}:{batch}"


def trigger_reply_subject(request_id: str) -> str:
    return f"{TRIGGER_REPLY_PREFIX}.{request_id}"
