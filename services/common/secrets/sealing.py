"""Secrets at rest: values sealed with Fernet (`enc:v1:<token>`) and opened with any of the configured keys.

The keys come from `CEP_SECRETS_KEY` (one or more comma-separated Fernet keys) or from the file that
`CEP_SECRETS_KEY_FILE` names (keys separated by commas or new lines). The first key seals; every key opens. To
rotate, put a new key first and keep the old one until every value is re-sealed (`cep secrets rotate`; the gateway
also re-seals at start), then drop the old key. Without a key the services refuse to start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

PREFIX = "enc:v1:"
_SEPARATORS = re.compile(r"[,\s]+")
HOW_TO_GET_ONE = "`cep secrets new-key` prints a fresh key; `cep up` makes one in its state dir"


class SecretsKeyError(ValueError):
    """No usable key, or a sealed value that none of the keys opens. The message never holds a key or a value."""


def new_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    return Fernet.generate_key().decode()


def is_sealed(value: Any) -> bool:
    """Whether a stored value is sealed (anything else is plaintext from before sealing)."""
    return isinstance(value, str) and value.startswith(PREFIX)


class SecretBox:
    """Seals with the first key, opens with any; values are JSON, so a header object seals as well as a string."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretsKeyError(f"no key to seal channel secrets with: set CEP_SECRETS_KEY ({HOW_TO_GET_ONE})")
        self._primary = Fernet(keys[0].encode())
        self._all = MultiFernet([Fernet(k.encode()) for k in keys])

    def seal(self, value: Any) -> str:
        """`enc:v1:<token>` of the value's JSON, under the first key."""
        return PREFIX + self._primary.encrypt(json.dumps(value).encode()).decode()

    def open(self, sealed: str) -> Any:
        """The value a sealed text holds; SecretsKeyError when no configured key opens it."""
        try:
            return json.loads(self._all.decrypt(sealed.removeprefix(PREFIX).encode()))
        except (InvalidToken, ValueError):
            raise SecretsKeyError(
                "a sealed channel secret opens with none of the configured keys: was a key dropped too early?"
            ) from None

    def open_any(self, value: Any) -> Any:
        """A stored value in the clear: opened when sealed, as it is when plaintext from before sealing."""
        return self.open(value) if is_sealed(value) else value

    def is_current(self, sealed: str) -> bool:
        """Whether a sealed text is under the first key (nothing to re-seal)."""
        try:
            self._primary.decrypt(sealed.removeprefix(PREFIX).encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, value: Any) -> str:
        """The value sealed under the first key: plaintext sealed, an older key's token rotated, a current one kept."""
        if not is_sealed(value):
            return self.seal(value)
        if self.is_current(value):
            return str(value)
        try:
            return PREFIX + self._all.rotate(value.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretsKeyError("a sealed channel secret opens with none of the configured keys") from None


def parse_keys(text: str, source: str) -> list[str]:
    """The keys in a text (commas or white space between them), each checked; errors name `source`, never a key."""
    keys = [k for k in _SEPARATORS.split(text) if k]
    if not keys:
        raise SecretsKeyError(f"{source} holds no key ({HOW_TO_GET_ONE})")
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            raise SecretsKeyError(
                f"key {number} of {source} is not a Fernet key (32 url-safe base64-encoded bytes; {HOW_TO_GET_ONE})"
            ) from None
    return keys


def load_box(key: SecretStr | None, key_file: Path | None) -> SecretBox:
    """The box of `CEP_SECRETS_KEY`, else of the file `CEP_SECRETS_KEY_FILE` names; SecretsKeyError without one."""
    if key is not None and key.get_secret_value().strip():
        return SecretBox(parse_keys(key.get_secret_value(), "CEP_SECRETS_KEY"))
    if key_file is not None:
        try:
            text = Path(key_file).read_text()
        except OSError as exc:
            raise SecretsKeyError(f"CEP_SECRETS_KEY_FILE {key_file}: cannot be read ({exc.strerror})") from None
        return SecretBox(parse_keys(text, f"CEP_SECRETS_KEY_FILE {key_file}"))
    raise SecretsKeyError(
        "no key to seal channel secrets with: set CEP_SECRETS_KEY or CEP_SECRETS_KEY_FILE "
        f"(channel secrets are never stored in plaintext; {HOW_TO_GET_ONE})"
    )
