"""`cep up`'s NATS authorization: the rendered config (checked by the real nats-server) and the kept secrets."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import nkeys
import pytest

from services.common.cli import natsconf
from services.common.cli.stack_state import PORT_NAMES, child_env, nats_auth
from services.common.nats import nats_jwt
from tests.support.nats import NatsServer, start_nats

ISSUER = nats_jwt.public_key(nkeys.from_seed(nkeys.encode_seed(b"\x01" * 32, nkeys.PREFIX_BYTE_ACCOUNT)))
AUTH = natsconf.NatsAuth(password="s3cret-pw", issuer=ISSUER)


def render(auth: natsconf.NatsAuth | None, store: Path) -> str:
    return natsconf.render(
        host="127.0.0.1", port=4999, monitor_port=8999, store_dir=store, server_name="cep-test", auth=auth
    )


def server_accepts(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nats-server -t`: parse and check a config without starting."""
    path = tmp_path / "nats.conf"
    path.write_text(text)
    binary = str(Path(sys.executable).parent / "nats-server")
    return subprocess.run([binary, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30)


def test_without_auth_there_is_no_authorization_block(tmp_path: Path) -> None:
    text = render(None, tmp_path / "js")
    assert "authorization" not in text and "auth_callout" not in text
    assert server_accepts(text, tmp_path).returncode == 0


def test_with_auth_the_platform_the_producers_and_the_system_have_accounts_of_their_own(tmp_path: Path) -> None:
    text = render(AUTH, tmp_path / "js")
    accounts = text[text.index("accounts {") : text.index("system_account")]
    platform = accounts[accounts.index("CEP: {") : accounts.index("PRODUCERS: {")]
    assert "jetstream: enabled" in platform
    assert 'users: [ { user: "cep-internal", password: "s3cret-pw" } ]' in platform
    assert 'exports: [ { service: "cep.produce.*" } ]' in platform  # the platform exports the ingest service only
    producers = accounts[accounts.index("PRODUCERS: {") : accounts.index("SYS: {")]
    assert "jetstream" not in producers and "users" not in producers  # admitted by the callout only
    assert 'imports: [ { service: { account: CEP, subject: "cep.produce.*" }, to: "cep.ingest.$1" } ]' in producers
    assert 'SYS: { users: [ { user: "cep-system", password: "s3cret-pw" } ] }' in accounts
    block = text[text.index("authorization {") :]
    assert f'issuer: "{ISSUER}"' in block
    assert 'auth_users: [ "cep-internal", "cep-system" ]' in block and "account: CEP" in block
    checked = server_accepts(text, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_streams_kept_before_accounts_move_to_the_platform_account_once(tmp_path: Path) -> None:
    old = tmp_path / "nats" / "jetstream" / "$G" / "streams" / "CEP_EVENTS"
    old.mkdir(parents=True)
    (old / "meta.inf").write_text("kept")
    assert natsconf.move_global_account_store(tmp_path / "nats") is True
    assert (tmp_path / "nats" / "jetstream" / "CEP" / "streams" / "CEP_EVENTS" / "meta.inf").read_text() == "kept"
    assert natsconf.move_global_account_store(tmp_path / "nats") is False  # nothing left to move
    assert natsconf.move_global_account_store(tmp_path / "elsewhere") is False


@pytest.mark.parametrize(
    ("password", "issuer", "message"),
    [
        ("", ISSUER, "password must not be empty"),
        ("pw", "", "issuer must be an account public nkey"),
        ("pw", "U" + ISSUER[1:], "issuer must be an account public nkey"),
        ("pw", ISSUER[:-1], "issuer must be an account public nkey"),
    ],
)
def test_bad_auth_settings_name_the_field(password: str, issuer: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        natsconf.NatsAuth(password=password, issuer=issuer)


@pytest.fixture(scope="module")
def authed_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_nats(tmp_path_factory.mktemp("authed-nats"), auth=AUTH)
    yield server
    server.stop()


async def test_the_server_refuses_anonymous_and_wrong_passwords(authed_nats: NatsServer) -> None:
    # Nobody answers the callout here: the server times the request out and refuses.
    for url in (authed_nats.url, authed_nats.url.replace("nats://", "nats://cep-internal:wrong@")):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5)


async def test_the_internal_user_has_full_permissions(authed_nats: NatsServer) -> None:
    client = await nats.connect(authed_nats.url.replace("nats://", "nats://cep-internal:s3cret-pw@"))
    try:
        everything = await client.subscribe(">")
        await client.publish("cep.ingest.any-tenant", b"ping")
        assert (await everything.next_msg(timeout=5)).data == b"ping"
        js = client.jetstream()
        await js.add_stream(name="CONF_TEST", subjects=["conf.test.>"])
        assert (await js.publish("conf.test.x", b"{}")).stream == "CONF_TEST"
    finally:
        await client.close()


def test_cep_up_makes_the_nats_secrets_once_and_keeps_them_owner_only(tmp_path: Path) -> None:
    auth, seed = nats_auth(tmp_path)
    kept = tmp_path / "nats-auth.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert seed.startswith("SA") and auth.issuer == nats_jwt.public_key(nkeys.from_seed(seed.encode()))
    assert len(auth.password) >= 32 and auth.user == "cep-internal"
    assert nats_auth(tmp_path) == (auth, seed)  # the same on the next start

    ports = {name: 1000 + i for i, name in enumerate(("gateway", *PORT_NAMES))}
    env = child_env(tmp_path, "127.0.0.1", ports, "tok", auth)
    assert env["CEP_NATS_URL"] == f"nats://cep-internal:{auth.password}@127.0.0.1:1001"
    assert "CEP_NATS_AUTH_ISSUER_SEED" not in env  # only the gateway gets it (added in run())


def test_a_damaged_secrets_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "nats-auth.json").write_text('{"password": "", "issuer_seed": "nope"}')
    auth, seed = nats_auth(tmp_path)
    assert auth.password and seed.startswith("SA")
    assert stat.S_IMODE((tmp_path / "nats-auth.json").stat().st_mode) == 0o600
