"""The notification-policy publisher: reconciling puts a missing or stale policy back and removes a deleted one."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.state import state_of
from tests.gateway.conftest import mint
from tests.gateway.publishers.test_kv_publisher import _delete, _put, _reconcile, _stored

BUCKET = subjects.NOTIFICATION_POLICIES_BUCKET
POLICY = {"route": {"receiver": "quiet"}, "receivers": [{"name": "quiet", "channels": []}], "time_intervals": []}


def test_the_bucket_follows_sql(client: TestClient) -> None:
    tenant = f"k-{uuid.uuid4().hex[:10]}"
    editor = mint(client, tenant, "editor")
    assert client.put("/cep/notification-policies", headers=editor, json=POLICY).status_code == 200
    publisher = state_of(client.app).notification_policy_publisher
    client.portal.call(publisher.stop)  # no background pass may fix what the test breaks before it reconciles
    assert codec.loads(_stored(client, BUCKET, tenant) or b"null") == {"tenant": tenant, "version": 1, "policy": POLICY}

    _delete(client, BUCKET, tenant)
    assert _reconcile(client, publisher) >= 1
    assert codec.loads(_stored(client, BUCKET, tenant) or b"null")["version"] == 1
    _put(client, BUCKET, tenant, {"tenant": tenant, "version": 0, "policy": {}})  # stale
    assert _reconcile(client, publisher) >= 1
    assert codec.loads(_stored(client, BUCKET, tenant) or b"null")["policy"] == POLICY

    assert client.delete("/cep/notification-policies", headers=editor).status_code == 204
    _put(client, BUCKET, tenant, {"tenant": tenant, "version": 1, "policy": POLICY})  # a delete the mirror missed
    assert _reconcile(client, publisher) >= 1
    assert _stored(client, BUCKET, tenant) is None
