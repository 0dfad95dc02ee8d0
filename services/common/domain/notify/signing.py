"""Standard Webhooks signatures (https://www.standardwebhooks.com): the key of a secret and the signature header.

Pure, so channel validation (is this `whsec_` secret decodable?) and the webhook sender share one definition.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # the scheme's secret format: the prefix, then the base64 of the key bytes


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: `whsec_<base64>` is decoded; any other secret is used as its UTF-8 bytes.

    Raises ValueError (never quoting the secret) when a `whsec_` secret is not base64 or decodes to nothing.
    """
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a {SECRET_PREFIX} secret must be base64 after the prefix") from None
    if not key:
        raise ValueError(f"a {SECRET_PREFIX} secret must hold a key after the prefix")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
