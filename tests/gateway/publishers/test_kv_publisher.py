"""The SQL -> KV publisher: reconciling puts what is missing or stale and removes what SQL deleted, for each noun."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.publishers.kv_publisher import KvPublisher, stored_value, version_of
from services.gateway.state import GatewayState, state_of
from services.gateway.store import polling as polling_store
from tests.gateway.conftest import ADMIN, create_rule, mint
from tests.support.nats import NatsServer

BASE = "/cep/scheduler/metric-polling"


def _stored(client: TestClient, bucket: str, key: str) -> bytes | None:
    async def read() -> bytes | None:
        return await stored_value(await state_of(client.app).bus.js.key_value(bucket), key)

    return client.portal.call(read)


def _put(client: TestClient, bucket: str, key: str, value: Any) -> None:
    async def put() -> None:
        await (await state_of(client.app).bus.js.key_value(bucket)).put(key, codec.dumps(value))

    client.portal.call(put)


def _delete(client: TestClient, bucket: str, key: str) -> None:
    async def delete() -> None:
        await (await state_of(client.app).bus.js.key_value(bucket)).delete(key)

    client.portal.call(delete)


def _reconcile(client: TestClient, publisher: KvPublisher[Any]) -> int:
    return client.portal.call(publisher.reconcile)


def _created(client: TestClient, nats_server: NatsServer) -> tuple[GatewayState, str, str, str, dict[str, str]]:
    """A tenant with a rule, a polling target and a quota override, all mirrored: their keys, an editor's token."""
    tenant = f"k-{uuid.uuid4().hex[:10]}"
    editor = mint(client, tenant, "editor")
    rule = create_rule(client, editor)
    target = {"name": "varz", "url": f"{nats_server.monitor_url}/varz", "interval": "10s", "metrics": [{"name": "mem"}]}
    created = client.post(BASE, headers=editor, json=target)
    assert created.status_code == 201, created.text
    assert client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json={"rules": 7}).status_code == 200
    rule_key = subjects.rule_key(tenant, rule["rule_id"])
    target_key = subjects.polling_key(tenant, created.json()["target_id"])
    state = state_of(client.app)
    for publisher in (state.rule_publisher, state.polling_publisher, state.quota_publisher):
        client.portal.call(publisher.stop)  # no background pass may fix what a test breaks before it reconciles
    return state, rule_key, target_key, tenant, editor


def test_missing_and_stale_entries_are_put_back(client: TestClient, nats_server: NatsServer) -> None:
    state, rule_key, target_key, tenant, _ = _created(client, nats_server)
    for publisher in (state.rule_publisher, state.polling_publisher, state.quota_publisher):
        assert _reconcile(client, publisher) == 0  # the routes mirrored every change already

    _delete(client, subjects.RULES_BUCKET, rule_key)
    _put(client, subjects.POLLING_BUCKET, target_key, {"version": 0})
    _put(client, subjects.QUOTAS_BUCKET, tenant, {"rules": 1})
    for publisher in (state.rule_publisher, state.polling_publisher, state.quota_publisher):
        assert _reconcile(client, publisher) == 1
        assert _reconcile(client, publisher) == 0

    assert version_of(_stored(client, subjects.RULES_BUCKET, rule_key)) == 1
    assert version_of(_stored(client, subjects.POLLING_BUCKET, target_key)) == 1
    assert codec.loads(_stored(client, subjects.QUOTAS_BUCKET, tenant) or b"{}")["rules"] == 7


def test_keys_of_rows_sql_deleted_are_removed(client: TestClient, nats_server: NatsServer) -> None:
    state, rule_key, target_key, tenant, editor = _created(client, nats_server)
    lost = {
        (subjects.RULES_BUCKET, rule_key): _stored(client, subjects.RULES_BUCKET, rule_key),
        (subjects.POLLING_BUCKET, target_key): _stored(client, subjects.POLLING_BUCKET, target_key),
        (subjects.QUOTAS_BUCKET, tenant): _stored(client, subjects.QUOTAS_BUCKET, tenant),
    }
    rule_id, target_id = rule_key.rsplit(".", 1)[1], target_key.rsplit(".", 1)[1]
    assert client.delete(f"/cep/rules/{rule_id}", headers=editor).status_code == 204
    assert client.delete(f"{BASE}/{target_id}", headers=editor).status_code == 204
    assert client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json={"rules": None}).status_code == 200
    for bucket, key in lost:
        assert _stored(client, bucket, key) is None, key  # the routes removed them

    for (bucket, key), value in lost.items():  # as if those deletes had not reached NATS
        _put(client, bucket, key, codec.loads(value or b"null"))
    for publisher in (state.rule_publisher, state.polling_publisher, state.quota_publisher):
        assert _reconcile(client, publisher) == 1
    for bucket, key in lost:
        assert _stored(client, bucket, key) is None, key


def test_an_older_row_never_overwrites_a_newer_entry(client: TestClient, nats_server: NatsServer) -> None:
    state, _, target_key, tenant, _ = _created(client, nats_server)

    async def row() -> Any:
        async with state.db.read() as session:
            return await polling_store.get_target(session, tenant, target_key.rsplit(".", 1)[1])

    target = client.portal.call(row)
    _put(client, subjects.POLLING_BUCKET, target_key, {"version": target.version + 5})
    client.portal.call(state.polling_publisher.publish, target)  # a slow writer of version 1
    assert version_of(_stored(client, subjects.POLLING_BUCKET, target_key)) == target.version + 5
