"""The NATS auth callout: a real nats-server with `cep up`'s config asks the real gateway (SQLite tokens).

Producers connect with API tokens minted over HTTP; the server enforces the permissions the gateway signs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nkeys
import pytest
from fastapi.testclient import TestClient
from nats.aio.client import Client
from nats.js.errors import APIError, NotFoundError
from prometheus_client import REGISTRY

from services.common.cli import natsconf
from services.common.db.tables import TokenRow
from services.common.nats import nats_jwt, subjects
from services.common.quota_book import QuotaBook
from services.gateway.app import create_app
from services.gateway.nats.auth_callout import (
    MAX_SUBSCRIPTIONS,
    Producer,
    Refused,
    admit,
    producer_permissions,
    session_expiry,
)
from services.gateway.state import state_of
from services.ingest.producers import ProducerIngress
from tests.gateway.conftest import ADMIN, ADMIN_SECRET, settings_for
from tests.support.nats import NatsServer, start_nats

SEED = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_ACCOUNT).decode()
AUTH = natsconf.NatsAuth(password=secrets.token_hex(16), issuer=nats_jwt.public_key(nkeys.from_seed(SEED.encode())))
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SOON = NOW + timedelta(seconds=1)


# -- the decision, pure -------------------------------------------------------------------------------------
def row(**fields: Any) -> TokenRow:
    values: dict[str, Any] = {
        "token_id": "tok_1",
        "tenant": "acme",
        "role": "editor",
        "name": "producer",
        "token_hash": "h",
        "created_at": NOW - timedelta(days=1),
        **fields,
    }
    return TokenRow(**values)


@pytest.mark.parametrize(
    ("found", "decision"),
    [
        (None, Refused("unknown token")),
        (row(revoked_at=NOW - timedelta(seconds=1)), Refused("token tok_1 is revoked")),
        (row(expires_at=NOW), Refused("token tok_1 has expired")),
        (row(role="viewer"), Refused("token tok_1 has the viewer role; publishing needs editor or admin")),
        (row(tenant="Not_A_Subject.token"), Refused("token tok_1 has an invalid tenant name")),
        (row(), Producer("acme", "tok_1")),
        (
            row(role="admin", expires_at=NOW + timedelta(seconds=1)),
            Producer("acme", "tok_1", NOW + timedelta(seconds=1)),
        ),
    ],
)
def test_admit_applies_the_http_checks_then_the_role(found: TokenRow | None, decision: Producer | Refused) -> None:
    assert admit(found, NOW) == decision


def test_a_producer_may_publish_to_its_ingest_subject_and_read_only_its_own_inboxes() -> None:
    assert producer_permissions("team-a") == {
        "pub": {"allow": ["cep.ingest.team-a"]},
        "sub": {"allow": ["_INBOX_team-a.>"]},
    }
    with pytest.raises(ValueError, match="invalid tenant"):
        producer_permissions("a.>")


def test_the_session_ends_with_the_token() -> None:
    assert session_expiry(Producer("acme", "t")) is None
    assert session_expiry(Producer("acme", "t", NOW + timedelta(seconds=30))) == int(NOW.timestamp()) + 30


# -- against a real nats-server and the real gateway ---------------------------------------------------------
@pytest.fixture(scope="module")
def callout_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_nats(tmp_path_factory.mktemp("callout-nats"), auth=AUTH)
    yield server
    server.stop()


def internal_url(server: NatsServer) -> str:
    return server.url.replace("nats://", f"nats://{AUTH.user}:{AUTH.password}@")


def system_url(server: NatsServer) -> str:
    return server.url.replace("nats://", f"nats://{AUTH.system_user}:{AUTH.password}@")


@pytest.fixture(scope="module")
def gateway(callout_nats: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The gateway, connected as the internal user, answering the callout and sweeping producers' sessions (as
    the system user); ready when /readyz says so. The producers' ingest service runs beside it, as in ingest."""
    settings = settings_for(
        tmp_path_factory.mktemp("gateway"),
        nats_url=internal_url(callout_nats),
        nats_auth_issuer_seed=SEED,
        nats_system_url=system_url(callout_nats),
        producer_sweep_seconds=0.5,
        max_body_bytes=256 * 1024,
    )
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)
        portal = client.portal
        assert portal is not None
        ingress = portal.call(start_ingress, internal_url(callout_nats))
        try:
            yield client
        finally:
            portal.call(stop_ingress, ingress)


async def start_ingress(url: str) -> ProducerIngress:
    """The ingest service's answer to producers, on its own internal connection (closed with it at stop)."""
    ingress = ProducerIngress(await nats.connect(url), QuotaBook(), max_payload=256 * 1024)
    await ingress.start()
    return ingress


async def stop_ingress(ingress: ProducerIngress) -> None:
    await ingress.stop()
    await ingress.nc.close()


def mint(gateway: TestClient, tenant: str, role: str) -> dict[str, str]:
    response = gateway.post("/cep/auth/tokens", headers=ADMIN, json={"tenant": tenant, "role": role, "name": "nats"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def tokens(gateway: TestClient) -> dict[str, str]:
    revoked = mint(gateway, "acme", "editor")
    assert gateway.delete(f"/cep/auth/tokens/{revoked['token_id']}", headers=ADMIN).status_code == 204
    return {
        "editor": mint(gateway, "acme", "editor")["token"],
        "admin": mint(gateway, "acme", "admin")["token"],
        "viewer": mint(gateway, "acme", "viewer")["token"],
        "revoked": revoked["token"],
    }


class ProducerLink:
    """A producer's connection and the asynchronous errors (permission violations) the server sent it."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.client: Client | None = None

    async def connect(self, server: NatsServer, tenant: str = "acme", **options: Any) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.client = await nats.connect(
            server.url,
            inbox_prefix=f"_INBOX_{tenant}",
            error_cb=on_error,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=5,
            **options,
        )
        return self.client

    async def violation(self, text: str, timeout: float = 5) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for error in self.errors:
                if text in error:
                    return error
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error containing {text!r}; got {self.errors}")


@pytest.fixture
async def producer() -> Any:
    holder = ProducerLink()
    yield holder
    if holder.client is not None and not holder.client.is_closed:
        await holder.client.close()


@pytest.fixture
async def internal(callout_nats: NatsServer) -> Any:
    client = await nats.connect(internal_url(callout_nats))
    yield client
    await client.close()


async def stored_on(internal: Client, subject: str) -> bytes | None:
    """The last message JetStream holds on a subject of CEP_EVENTS, if any."""
    try:
        return bytes((await internal.jetstream().get_last_msg("CEP_EVENTS", subject)).data or b"")
    except NotFoundError:
        return None


async def test_an_editor_token_publishes_to_its_tenant_subject_and_gets_a_pub_ack(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    client = await producer.connect(callout_nats, token=tokens["editor"])
    body = json.dumps({"event_type": "nats-auth-test", "n": secrets.token_hex(4)}).encode()
    ack = await client.jetstream().publish("cep.ingest.acme", body, headers={"Nats-Msg-Id": secrets.token_hex(8)})
    assert ack.stream == "CEP_EVENTS" and ack.seq > 0
    assert await stored_on(internal, "cep.ingest.acme") == body
    assert producer.errors == []


async def test_the_token_may_also_be_the_password_with_any_user_name(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink
) -> None:
    client = await producer.connect(callout_nats, user="whoever", password=tokens["admin"])
    assert (await client.jetstream().publish("cep.ingest.acme", b'{"n": 1}')).stream == "CEP_EVENTS"


async def test_the_platform_admin_token_publishes_for_the_default_tenant(
    gateway: TestClient, callout_nats: NatsServer, producer: ProducerLink
) -> None:
    client = await producer.connect(callout_nats, tenant="default", token=ADMIN_SECRET)
    assert (await client.jetstream().publish("cep.ingest.default", b'{"n": 1}')).stream == "CEP_EVENTS"


async def test_publishing_for_another_tenant_is_refused_and_never_stored(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    client = await producer.connect(callout_nats, token=tokens["editor"])
    with pytest.raises(nats.errors.TimeoutError):
        await client.jetstream().publish("cep.ingest.other", b'{"n": 1}', timeout=1)
    await producer.violation('permissions violation for publish to "cep.ingest.other"')
    for subject in ("cep.internal.acme", "cep.control.rules"):
        await client.publish(subject, b'{"n": 1}')
        await producer.violation(f'permissions violation for publish to "{subject}"')
    assert await stored_on(internal, "cep.ingest.other") is None
    assert await stored_on(internal, "cep.internal.acme") is None


@pytest.mark.parametrize("subject", ["cep.>", "cep.alerts.acme", "_INBOX.>", ">", "_INBOX_other.>"])
async def test_subscribing_beyond_its_own_inboxes_is_refused(
    gateway: TestClient,
    tokens: dict[str, str],
    callout_nats: NatsServer,
    producer: ProducerLink,
    internal: Client,
    subject: str,
) -> None:
    client = await producer.connect(callout_nats, token=tokens["editor"])
    sub = await client.subscribe(subject)
    await producer.violation(f'permissions violation for subscription to "{subject.lower()}"')
    await internal.publish("cep.alerts.acme", b"secret alert")
    await internal.flush()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.3)


async def test_the_default_inbox_is_refused_so_producers_must_set_their_inbox_prefix(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer
) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    plain = await nats.connect(callout_nats.url, token=tokens["editor"], error_cb=on_error, allow_reconnect=False)
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await plain.jetstream().publish("cep.ingest.acme", b"{}", timeout=1)
        assert any('subscription to "_inbox.' in error for error in errors), errors
    finally:
        await plain.close()


@pytest.mark.parametrize("which", ["viewer", "revoked", "garbage", "empty", "none"])
async def test_refused_tokens_cannot_connect(
    gateway: TestClient,
    tokens: dict[str, str],
    callout_nats: NatsServer,
    which: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.gateway.nats.auth_callout")
    secret = {"garbage": "cep_" + secrets.token_urlsafe(32), "empty": "", "none": None}.get(which, tokens.get(which))
    options = {"token": secret} if secret else {}
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(callout_nats.url, allow_reconnect=False, max_reconnect_attempts=0, **options)
    deadline = time.monotonic() + 5
    while "nats producer refused" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        await asyncio.sleep(0.02)
    if secret:
        assert secret not in caplog.text  # the reason is logged, never the token


async def test_readiness_counts_decisions_and_never_shows_the_internal_password(
    gateway: TestClient, callout_nats: NatsServer
) -> None:
    ready = gateway.get("/readyz")
    checks = ready.json()["checks"]
    assert checks["nats_auth"]["ok"] is True
    assert set(checks["nats_auth"]["detail"]) == {"admitted", "refused"}
    assert checks["nats"]["detail"]["server"] == f"127.0.0.1:{callout_nats.port}"
    assert AUTH.password not in ready.text


async def test_a_request_not_signed_by_a_server_gets_no_answer(gateway: TestClient) -> None:
    responder = state_of(gateway.app).nats_auth
    assert responder is not None
    account = nkeys.from_seed(SEED.encode())
    not_a_server = nats_jwt.encode({"nats": {"type": "authorization_request"}}, account).encode()
    for request in (b"garbage", not_a_server):
        assert await responder.answer(request, NOW) is None


def test_no_callout_responder_without_the_seed(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path))) as client:
        assert "nats_auth" not in client.get("/readyz").json()["checks"]
        assert state_of(client.app).nats_auth is None


# -- isolation: what a producer names as a reply subject, its message ids and headers, its rate, its session ----
async def test_a_reply_subject_forged_to_another_tenant_or_platform_state_changes_nothing(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    """JetStream answers a publish on its reply subject, which NATS never checks against publish permissions: in
    the platform's account a forged reply would write a victim's events or a KV key. Producers live in their own
    account, so the answer lands there, where nothing listens."""
    js = internal.jetstream()
    control = await js.key_value(subjects.CONTROL_BUCKET)
    await control.put("shard-map", b'{"epoch": 1, "shards": 2}')
    before = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
    client = await producer.connect(callout_nats, token=tokens["editor"])
    forged = (
        "cep.ingest.victim",
        "cep.produce.victim",
        f"$KV.{subjects.CONTROL_BUCKET}.shard-map",
        f"$JS.API.STREAM.DELETE.{subjects.EVENTS_STREAM}",
        "cep.control.rules",
    )
    for reply in forged:
        await client.publish("cep.ingest.acme", b'{"forged": 1}', reply=reply)
    await client.flush()
    await asyncio.sleep(1.0)
    assert await stored_on(internal, "cep.ingest.victim") is None
    assert await stored_on(internal, "cep.control.rules") is None
    assert (await control.get("shard-map")).value == b'{"epoch": 1, "shards": 2}'
    after = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages  # the stream is still there
    assert after == before + len(forged)  # each forged publish stored once, for acme, and nothing else
    assert producer.errors == []


async def test_message_ids_deduplicate_within_a_tenant_never_across_tenants(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, internal: Client
) -> None:
    other = mint(gateway, "other-tenant", "editor")["token"]
    msg_id = {"Nats-Msg-Id": f"shared-{secrets.token_hex(4)}"}
    acme, rival = ProducerLink(), ProducerLink()
    try:
        first = (
            await (await acme.connect(callout_nats, token=tokens["editor"]))
            .jetstream()
            .publish("cep.ingest.acme", b'{"n": 1}', headers=msg_id)
        )
        again = await acme.client.jetstream().publish("cep.ingest.acme", b'{"n": 1}', headers=msg_id)  # type: ignore[union-attr]
        theirs = (
            await (await rival.connect(callout_nats, tenant="other-tenant", token=other))
            .jetstream()
            .publish("cep.ingest.other-tenant", b'{"n": 2}', headers=msg_id)
        )
    finally:
        for link in (acme, rival):
            if link.client is not None:
                await link.client.close()
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    assert not theirs.duplicate and theirs.seq != first.seq
    stored = await internal.jetstream().get_msg(subjects.EVENTS_STREAM, theirs.seq)
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == f"other-tenant/{msg_id['Nats-Msg-Id']}"


async def test_a_producer_cannot_set_the_platforms_own_headers(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    client = await producer.connect(callout_nats, token=tokens["editor"])
    headers = {subjects.TRIGGER_RULE: "rule-of-someone", subjects.RECEIVED_AT: "2000-01-01T00:00:00Z", "X-Mine": "1"}
    ack = await client.jetstream().publish("cep.ingest.acme", b'{"n": 3}', headers=headers)
    stored = await internal.jetstream().get_msg(subjects.EVENTS_STREAM, ack.seq)
    assert not set(stored.headers or {}) & {subjects.TRIGGER_RULE, subjects.RECEIVED_AT, "X-Mine"}


async def test_a_producer_over_its_tenants_rate_is_refused_and_counted(
    gateway: TestClient, callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    token = mint(gateway, "slow-tenant", "editor")["token"]
    quotas = await internal.jetstream().key_value(subjects.QUOTAS_BUCKET)
    await quotas.put("slow-tenant", json.dumps({"ingest_rate": 1, "ingest_burst": 3}).encode())
    await asyncio.sleep(0.5)  # the ingress's watch takes it in
    refused_before = (
        REGISTRY.get_sample_value("cep_ingest_nats_events_total", {"tenant": "slow-tenant", "result": "rate_limited"})
        or 0.0
    )
    client = await producer.connect(callout_nats, tenant="slow-tenant", token=token)
    js = client.jetstream()
    assert (await js.publish("cep.ingest.slow-tenant", b'[{"n": 1}, {"n": 2}]')).seq > 0
    with pytest.raises(APIError) as refused:
        await js.publish("cep.ingest.slow-tenant", b'[{"n": 3}, {"n": 4}]')
    assert refused.value.code == 429
    assert "ingest rate of 1 events/s" in str(refused.value.description)
    assert "CEP_QUOTA_INGEST_RATE" in str(refused.value.description)
    refused_after = REGISTRY.get_sample_value(
        "cep_ingest_nats_events_total", {"tenant": "slow-tenant", "result": "rate_limited"}
    )
    assert refused_after == refused_before + 2


async def test_a_message_over_the_payload_limit_is_refused_and_never_stored(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer, producer: ProducerLink, internal: Client
) -> None:
    client = await producer.connect(callout_nats, token=tokens["editor"])
    big = json.dumps({"blob": "x" * (300 * 1024)}).encode()  # the ingress's limit here is 256 KiB
    with pytest.raises(APIError) as refused:
        await client.jetstream().publish("cep.ingest.acme", big, timeout=2)
    assert refused.value.code == 413 and "CEP_MAX_BODY_BYTES" in str(refused.value.description)
    assert await stored_on(internal, "cep.ingest.acme") != big


@contextlib.asynccontextmanager
async def watched_producer(url: str, token: str, **options: Any) -> AsyncIterator[tuple[Client, asyncio.Event]]:
    """A producer connection of tenant acme and an Event set when the connection is closed for good."""
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    client = await nats.connect(url, token=token, inbox_prefix="_INBOX_acme", closed_cb=on_closed, **options)
    try:
        yield client, closed
    finally:
        if not client.is_closed:
            await client.close()


async def test_revoking_a_token_closes_its_open_connection_within_seconds(
    gateway: TestClient, callout_nats: NatsServer
) -> None:
    minted = mint(gateway, "acme", "editor")
    reconnecting = {"max_reconnect_attempts": 2, "reconnect_time_wait": 0.2}
    async with watched_producer(callout_nats.url, minted["token"], **reconnecting) as (client, closed):
        assert (await client.jetstream().publish("cep.ingest.acme", b"{}")).seq > 0
        assert gateway.delete(f"/cep/auth/tokens/{minted['token_id']}", headers=ADMIN).status_code == 204
        await asyncio.wait_for(closed.wait(), 10)  # kicked, then the callout refuses its reconnects
    assert gateway.get("/readyz").json()["checks"]["producer_sessions"]["detail"]["kicked"] >= 1


async def test_a_producer_holding_too_many_subscriptions_is_closed(
    gateway: TestClient, tokens: dict[str, str], callout_nats: NatsServer
) -> None:
    async with watched_producer(callout_nats.url, tokens["editor"], allow_reconnect=False) as (client, closed):
        for n in range(MAX_SUBSCRIPTIONS + 1):
            await client.subscribe(f"_INBOX_acme.many.{n}")
        await client.flush()
        await asyncio.wait_for(closed.wait(), 10)
