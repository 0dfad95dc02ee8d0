"""Channel secrets: header values and URL credentials are write-only, and every secret is sealed at rest (SQL and
the `cep-channels` bucket), delivered for real after the round trip, and re-sealed when the key rotates."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError, NoKeysError
from pydantic import SecretStr

from services.common.cli.main import main as cep
from services.common.domain.notify.channel_masks import MASK
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.common.secrets.sealing import PREFIX, SecretBox, load_box, new_key
from services.gateway.app import create_app
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.notifier.running import running_notifier, transition
from tests.support.http_sink import Received, http_sink
from tests.support.nats import NatsServer

KEY = "key-Very-Secret-4711"
PASSWORD = "pw-Very-Secret-0815"
QUERY_KEY = "q-Very-Secret-1234"
TOKEN = "tok-Very-Secret-2048"
SECRETS = (KEY, PASSWORD, QUERY_KEY, TOKEN)


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _hook(url: str = "http://127.0.0.1:9/hook", **config: Any) -> dict[str, Any]:
    """A webhook with credentials in the URL and a secret header."""
    creds = url.replace("http://", f"http://bob:{PASSWORD}@", 1)
    return {"name": "ops-hook", "type": "webhook", "config": {"url": creds, "headers": {"X-Api-Key": KEY}, **config}}


def _box() -> SecretBox:
    return load_box(SecretStr(os.environ["CEP_SECRETS_KEY"]), None)


def _no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _row(state_dir: Path, channel_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The channel's SQL row as stored: (config, secrets)."""
    with sqlite3.connect(state_dir / "cep.db") as db:
        config, secrets = db.execute(
            "SELECT config, secrets FROM channels WHERE channel_id = ?", (channel_id,)
        ).fetchone()
    return json.loads(config), json.loads(secrets)


def _kv_history(server: NatsServer, key: str) -> list[bytes]:
    """Every revision the bucket keeps of a key (oldest first); empty when it holds none."""

    async def read() -> list[bytes]:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.CHANNELS_BUCKET)
            return [e.value or b"" for e in await kv.history(key)]
        except (KeyNotFoundError, NoKeysError):  # not written yet: history raises NoKeysError for a new key
            return []
        finally:
            await nc.close()

    return asyncio.run(read())


def _kv_entry(server: NatsServer, key: str) -> ChannelEntry:
    return ChannelEntry.decode(_kv_history(server, key)[-1])


def _eventually(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def test_reads_never_return_header_values_or_url_credentials(any_client: TestClient) -> None:
    editor = mint(any_client, _tenant(), "editor")
    created = any_client.post("/cep/channels", headers=editor, json=_hook(auth_token=TOKEN))
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["config"]["headers"] == {"X-Api-Key": MASK}
    assert channel["config"]["url"] == f"http://{MASK}@127.0.0.1:9/hook"
    assert channel["secrets_set"] == ["auth_token", "headers", "url"]
    url = f"/cep/channels/{channel['channel_id']}"
    api_call = {
        "name": "call",
        "type": "api_call",
        "config": {"url": f"http://127.0.0.1:9/x?api_key={QUERY_KEY}&team=ops", "headers": {"Authorization": KEY}},
    }
    call = any_client.post("/cep/channels", headers=editor, json=api_call).json()
    assert call["config"]["url"] == f"http://127.0.0.1:9/x?api_key={MASK}&team=ops"
    for response in (
        created,
        any_client.get(url, headers=editor),
        any_client.get("/cep/channels", headers=editor),
        any_client.get(f"/cep/channels/{call['channel_id']}", headers=editor),
        any_client.put(url, headers=editor, json={**_hook(), "name": "renamed"}),
    ):
        assert response.status_code == 200 or response.status_code == 201, response.text
        _no_secret_in(response.text)
    types = {t["type"]: t for t in any_client.get("/cep/channels/types", headers=editor).json()["items"]}
    fields = {f["name"]: f for f in types["webhook"]["fields"]}
    assert fields["headers"]["secret"] is True and "userinfo" in fields["url"]["secret_parts"]


def test_a_round_trip_of_what_get_shows_keeps_the_stored_values(client: TestClient, nats_server: NatsServer) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor")
    channel = client.post("/cep/channels", headers=editor, json=_hook()).json()
    url, key = f"/cep/channels/{channel['channel_id']}", subjects.channel_key(owner, channel["channel_id"])
    assert client.put(url, headers=editor, json=channel).json()["version"] == 1  # GET's body back: no change

    moved = {**channel, "config": {**channel["config"], "url": f"http://{MASK}@127.0.0.1:9/v2"}}
    assert client.put(url, headers=editor, json=moved).json()["version"] == 2
    left_out = {"name": "ops-hook", "type": "webhook", "config": {"timeout": "5s"}}  # url and headers kept
    assert client.put(url, headers=editor, json=left_out).json()["version"] == 3
    opened = _box_open(_kv_entry(nats_server, key))
    assert opened["url"] == f"http://bob:{PASSWORD}@127.0.0.1:9/v2" and opened["headers"] == {"X-Api-Key": KEY}

    unknown = {**left_out, "config": {"headers": {"X-Other": MASK}}}
    problem = is_problem(client.put(url, headers=editor, json=unknown), 422)
    assert problem["errors"][0]["loc"] == ["config", "headers"]
    _no_secret_in(json.dumps(problem))

    client.put(url, headers=editor, json={**left_out, "config": {"url": "http://127.0.0.1:9/v3", "headers": None}})
    cleared = client.get(url, headers=editor).json()
    assert cleared["secrets_set"] == [] and cleared["config"]["url"] == "http://127.0.0.1:9/v3"

    page = client.get("/cep/audit?resource=channel", headers=mint(client, owner, "admin"))
    assert page.status_code == 200 and len(page.json()["items"]) == 4
    assert page.json()["items"][-2]["change"]["secrets_changed"] == ["url"]
    _no_secret_in(page.text)


def _box_open(entry: ChannelEntry) -> dict[str, Any]:
    box = _box()
    return {k: box.open(v) if isinstance(v, str) and v.startswith(PREFIX) else v for k, v in entry.config.items()}


def test_sql_and_the_bucket_hold_no_plaintext_secret(
    client: TestClient, tmp_path: Path, nats_server: NatsServer
) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor")
    whsec = "whsec_" + base64.b64encode(TOKEN.encode()).decode()
    hook = client.post("/cep/channels", headers=editor, json=_hook(auth_token=TOKEN, secret=whsec)).json()
    basic = {
        "name": "b",
        "type": "api_call",
        "config": {"url": "http://h/", "basic_user": "u", "basic_password": PASSWORD},
    }
    call = client.post("/cep/channels", headers=editor, json=basic).json()
    for channel in (hook, call):
        config, secrets = _row(tmp_path, channel["channel_id"])
        _no_secret_in(json.dumps(config))
        _no_secret_in(json.dumps(secrets))
        assert secrets and all(isinstance(v, str) and v.startswith(PREFIX) for v in secrets.values())
        history = _kv_history(nats_server, subjects.channel_key(owner, channel["channel_id"]))
        assert history
        for revision in history:
            _no_secret_in(revision.decode())
    config, secrets = _row(tmp_path, hook["channel_id"])
    opened = {name: _box().open(value) for name, value in secrets.items()}
    assert opened == {
        "auth_token": TOKEN,
        "secret": whsec,
        "url": f"http://bob:{PASSWORD}@127.0.0.1:9/hook",
        "headers": {"X-Api-Key": KEY},
    }
    assert config["headers"] == {"X-Api-Key": MASK}


def _reflect(request: Received) -> tuple[int, bytes]:
    """An answer that repeats every header it got: a careless endpoint the excerpt must not leak through."""
    return 200, json.dumps({"seen": request.headers, "path": request.path}).encode()


def test_deliveries_get_the_real_credentials_after_the_round_trip_through_encryption(client: TestClient) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor")
    with http_sink(_reflect, content_type="application/json") as sink, running_notifier() as notifier:
        client.post("/cep/channels", headers=editor, json=_hook(f"{sink.url}/hook"))
        call = {
            "name": "call",
            "type": "api_call",
            "config": {
                "url": f"{sink.url}/call?api_key={QUERY_KEY}",
                "method": "POST",
                "headers": {"X-Api-Key": KEY},
                "basic_user": "carol",
                "basic_password": PASSWORD,
                "body": '{"rule": "{{ rule_name }}"}',
            },
        }
        assert client.post("/cep/channels", headers=editor, json=call).status_code == 201
        results = notifier.watch(owner)
        actions = [
            {"type": "notify", "channel": "ops-hook", "message": "m"},
            {"type": "notify", "channel": "call", "message": "m"},
        ]
        notifier.publish_alert(transition(owner), actions)
        notifier.wait_results(owner, final=2)
    by_path = {r.path.split("?")[0]: r for r in sink.requests}
    hook, called = by_path["/hook"], by_path["/call"]
    assert hook.headers["X-Api-Key"] == KEY
    assert hook.headers["Authorization"] == "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    assert called.headers["X-Api-Key"] == KEY and called.path == f"/call?api_key={QUERY_KEY}"
    assert called.headers["Authorization"] == "Basic " + base64.b64encode(f"carol:{PASSWORD}".encode()).decode()
    assert sorted(r.status for r in results) == ["sent", "sent"]
    excerpts = [r.excerpt for r in results if r.excerpt]
    assert excerpts and MASK in excerpts[0]  # the reflected header values are hidden in what is recorded
    _no_secret_in(json.dumps([r.as_dict() for r in results], default=str))


def test_rotation_reseals_sql_and_the_bucket_then_the_old_key_can_go(
    tmp_path: Path, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, newest = new_key(), new_key(), new_key()
    owner = _tenant()
    with TestClient(create_app(settings_for(tmp_path, secrets_key=old))) as first:
        editor = mint(first, owner, "editor")
        channel = first.post("/cep/channels", headers=editor, json=_hook(auth_token=TOKEN)).json()
    key = subjects.channel_key(owner, channel["channel_id"])
    _, sealed_old = _row(tmp_path, channel["channel_id"])
    assert not SecretBox([new]).is_current(sealed_old["auth_token"])

    def current(box: SecretBox) -> bool:
        _, secrets = _row(tmp_path, channel["channel_id"])
        entry = _kv_entry(nats_server, key)
        sealed = [*secrets.values(), *(entry.config[n] for n in secrets)]
        return all(isinstance(v, str) and box.is_current(v) for v in sealed)

    # The new key first, the old one kept: the gateway re-seals SQL and the bucket at start.
    with TestClient(create_app(settings_for(tmp_path, secrets_key=f"{new},{old}"))):
        _eventually(lambda: current(SecretBox([new])))
    for revision in _kv_history(nats_server, key):  # no revision under the old key is left behind
        entry = ChannelEntry.decode(revision)
        assert SecretBox([new]).open(entry.config["auth_token"]) == TOKEN

    # The old key dropped: everything still opens; a round trip keeps the values.
    with TestClient(create_app(settings_for(tmp_path, secrets_key=new))) as last:
        url = f"/cep/channels/{channel['channel_id']}"
        body = last.get(url, headers=editor).json()
        assert last.put(url, headers=editor, json={**body, "name": "renamed"}).status_code == 200
    assert SecretBox([new]).open(_kv_entry(nats_server, key).config["auth_token"]) == TOKEN

    # The command does the same for SQL, on demand, and says how much it re-sealed.
    os.environ["CEP_SECRETS_KEY"], saved = f"{newest},{new}", os.environ["CEP_SECRETS_KEY"]
    try:
        assert cep(["secrets", "rotate", "--state-dir", str(tmp_path)]) == 0
    finally:
        os.environ["CEP_SECRETS_KEY"] = saved
    assert "re-sealed 3 secret value(s) of 1 channel(s)" in capsys.readouterr().out
    _, secrets = _row(tmp_path, channel["channel_id"])
    assert SecretBox([newest]).open(secrets["auth_token"]) == TOKEN


def test_plaintext_rows_from_before_are_shown_masked_and_sealed_at_start(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    owner = _tenant()
    with TestClient(create_app(settings_for(tmp_path))) as app:
        editor = mint(app, owner, "editor")
        channel = app.post("/cep/channels", headers=editor, json=_hook()).json()
    key = subjects.channel_key(owner, channel["channel_id"])
    # What the gateway stored before: headers and URL in the public config, secrets in plaintext, mirrored so.
    legacy = {"url": f"http://bob:{PASSWORD}@127.0.0.1:9/hook", "method": "POST", "headers": {"X-Api-Key": KEY}}
    with sqlite3.connect(tmp_path / "cep.db") as db:
        db.execute(
            "UPDATE channels SET config = ?, secrets = ? WHERE channel_id = ?",
            (json.dumps(legacy), json.dumps({"auth_token": TOKEN}), channel["channel_id"]),
        )
    plain = ChannelEntry(owner, channel["channel_id"], "ops-hook", "webhook", {**legacy, "auth_token": TOKEN}, 1)

    async def put_plain() -> None:
        nc = await nats.connect(nats_server.url)
        await (await nc.jetstream().key_value(subjects.CHANNELS_BUCKET)).put(key, plain.encode())
        await nc.close()

    asyncio.run(put_plain())
    with TestClient(create_app(settings_for(tmp_path))) as app:
        shown = app.get(f"/cep/channels/{channel['channel_id']}", headers=editor)
        _no_secret_in(shown.text)
        assert shown.json()["config"]["headers"] == {"X-Api-Key": MASK}
        _eventually(lambda: all(PREFIX in r.decode() for r in _kv_history(nats_server, key)))
    config, secrets = _row(tmp_path, channel["channel_id"])
    _no_secret_in(json.dumps(config) + json.dumps(secrets))
    assert {n: _box().open(v) for n, v in secrets.items()} == {
        "auth_token": TOKEN,
        "url": legacy["url"],
        "headers": {"X-Api-Key": KEY},
    }
    for revision in _kv_history(nats_server, key):
        _no_secret_in(revision.decode())
