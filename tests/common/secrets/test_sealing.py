"""Secrets at rest: Fernet sealing, keys from the environment or a file, rotation with two keys, no key no start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.common.secrets.sealing import PREFIX, SecretBox, SecretsKeyError, is_sealed, load_box, new_key

OLD, NEW = new_key(), new_key()


def test_a_sealed_value_opens_to_what_was_sealed_and_shows_nothing_of_it() -> None:
    box = SecretBox([OLD])
    for value in ("tok-Very-Secret-4711", {"X-Api-Key": "k-Very-Secret-0815"}):
        sealed = box.seal(value)
        assert sealed.startswith(PREFIX) and is_sealed(sealed) and "Very-Secret" not in sealed
        assert box.open(sealed) == value
    assert box.seal("a") != box.seal("a")  # a fresh IV each time
    assert not is_sealed("tok-1") and not is_sealed({"X": "y"})


def test_rotation_with_two_keys() -> None:
    sealed_old = SecretBox([OLD]).seal("tok-Very-Secret-4711")
    both = SecretBox([NEW, OLD])  # the new key first: it seals, both open
    assert both.open(sealed_old) == "tok-Very-Secret-4711"
    assert not both.is_current(sealed_old)
    resealed = both.reseal(sealed_old)
    assert resealed != sealed_old and both.is_current(resealed)
    assert both.reseal(resealed) == resealed  # current values are left as they are
    assert (
        both.reseal("plain-legacy-1") != "plain-legacy-1"
        and both.open(both.reseal("plain-legacy-1")) == "plain-legacy-1"
    )
    # The old key can go: what was re-sealed opens with the new key alone; what was not, no longer does.
    assert SecretBox([NEW]).open(resealed) == "tok-Very-Secret-4711"
    with pytest.raises(SecretsKeyError, match="none of the configured keys"):
        SecretBox([NEW]).open(sealed_old)
    assert Fernet(NEW.encode()).decrypt(resealed.removeprefix(PREFIX).encode())  # a plain Fernet token


def test_keys_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    sealed = SecretBox([OLD]).seal("v-1234")
    assert load_box(SecretStr(f" {NEW} , {OLD} "), None).open(sealed) == "v-1234"
    key_file = tmp_path / "secrets-key"
    key_file.write_text(f"{NEW}\n{OLD}\n")
    assert load_box(None, key_file).open(sealed) == "v-1234"
    assert load_box(None, key_file).is_current(SecretBox([NEW]).seal("x"))


def test_no_key_or_a_bad_key_is_a_clear_error_that_never_echoes_the_value(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY"):
        load_box(None, None)
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY") as caught:
        load_box(SecretStr("not-a-fernet-key-Very-Secret"), None)
    assert "Very-Secret" not in str(caught.value)
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY_FILE"):
        load_box(None, tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY_FILE"):
        load_box(None, tmp_path / "empty")


def test_gateway_and_notifier_refuse_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings
    from services.notifier.app import NotifierService
    from services.notifier.settings import NotifierSettings

    monkeypatch.delenv("CEP_SECRETS_KEY", raising=False)
    monkeypatch.delenv("CEP_SECRETS_KEY_FILE", raising=False)
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY"):
        create_app(GatewaySettings(state_dir=tmp_path))
    with pytest.raises(SecretsKeyError, match="CEP_SECRETS_KEY"):
        NotifierService(NotifierSettings(state_dir=tmp_path))


def test_cep_up_makes_the_key_once_owner_only_and_refuses_a_damaged_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.common.cli.stack_state import secrets_key_env

    monkeypatch.delenv("CEP_SECRETS_KEY", raising=False)
    monkeypatch.delenv("CEP_SECRETS_KEY_FILE", raising=False)
    env = secrets_key_env(tmp_path)
    path = Path(env["CEP_SECRETS_KEY_FILE"])
    assert path.parent == tmp_path and stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert load_box(None, path) and secrets_key_env(tmp_path) == env and path.read_text() == first
    path.write_text("damaged")
    with pytest.raises(SystemExit, match="secrets-key"):
        secrets_key_env(tmp_path)
    assert path.read_text() == "damaged"  # never replaced: the sealed values need it
    monkeypatch.setenv("CEP_SECRETS_KEY", NEW)
    assert secrets_key_env(tmp_path) == {}  # the environment's key wins (it reaches every child as it is)
