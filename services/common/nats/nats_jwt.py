"""NATS JWTs (the `ed25519-nkey` kind nats-server reads): encode, decode, verify, and the claims auth callout uses.

Pure functions, no I/O and no clock (`now` is a parameter). No maintained Python library signs NATS JWTs
(`nats-jwt` on PyPI calls itself untested), and the format is small: a JSON header
`{"typ":"JWT","alg":"ed25519-nkey"}`, JSON claims, both base64url without padding, and an ed25519 signature
over `header.claims` by an nkey (`nkeys`). The claim shapes follow nats-io/jwt v2, which the server decodes:
`jti` is the base32 SHA-512/256 of the claims without `jti`; `nats.type` and `nats.version` = 2 name the kind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing
import nkeys

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
VERSION = 2
NO_LIMIT = -1
GLOBAL_ACCOUNT = "$G"  # the account of every user in a server configured without accounts

# nkey public-key prefixes (the first base32 letter): what kind of key signed or is named.
ACCOUNT_PREFIX, USER_PREFIX, SERVER_PREFIX = "A", "U", "N"


class JwtError(ValueError):
    """A token that is not a well-formed, correctly signed NATS JWT; the message says which part is wrong."""


@dataclass(frozen=True)
class Jwt:
    """A decoded token: its header and claims, the bytes that were signed and the signature."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signed: bytes
    signature: bytes

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))


@dataclass(frozen=True)
class AuthRequest:
    """What nats-server asks the callout about one connecting client (the fields the platform uses)."""

    user_nkey: str  # the subject the answer must name: a one-off user key the server made for this connection
    server_id: str  # the audience of the answer
    token: str | None  # `auth_token`, else `pass`: the API token the producer presented, if any
    user: str | None
    client_host: str | None
    client_name: str | None


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse of `b64url` (padding restored); a JwtError for anything that is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError(f"not base64url: {exc}") from None


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def claims_id(claims: Mapping[str, Any]) -> str:
    """The `jti` nats-io/jwt gives a claims set: base32 (no padding) of SHA-512/256 over the claims JSON."""
    body = {key: value for key, value in claims.items() if key != "jti"}
    digest = hashlib.new("sha512_256", _json(body)).digest()
    return base64.b32encode(digest).rstrip(b"=").decode("ascii")


def encode(claims: Mapping[str, Any], signer: nkeys.KeyPair) -> str:
    """Sign `claims` with `signer`: `iss` becomes the signer's public key and `jti` is computed."""
    body = dict(claims)
    body["iss"] = public_key(signer)
    body.pop("jti", None)
    body = {"jti": claims_id(body), **body}
    signed = f"{b64url(_json(HEADER))}.{b64url(_json(body))}"
    signature = signer.sign(signed.encode("ascii"))
    return f"{signed}.{b64url(signature)}"


def decode(token: str) -> Jwt:
    """Split and parse a token without checking the signature (see `verify`)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three dot-separated parts")
    header, claims = _json_part(parts[0], "header"), _json_part(parts[1], "claims")
    if header.get("alg") != HEADER["alg"] or str(header.get("typ", "")).upper() != "JWT":
        raise JwtError(f"unsupported JWT header {header!r}: expected {HEADER!r}")
    return Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]))


def _json_part(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(text))
    except ValueError as exc:
        raise JwtError(f"the JWT {name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise JwtError(f"the JWT {name} is not a JSON object")
    return value


def verify(token: str, *, issuer_prefix: str | None = None) -> Jwt:
    """Decode a token and check its signature against the public key in its `iss` claim.

    `issuer_prefix` (`N` for a server, `A` for an account) also demands that kind of signer.
    """
    jwt = decode(token)
    issuer = jwt.issuer
    if issuer_prefix is not None and not issuer.startswith(issuer_prefix):
        raise JwtError(f"the JWT issuer must be a {issuer_prefix}... nkey")
    try:
        nacl.signing.VerifyKey(public_key_bytes(issuer)).verify(jwt.signed, jwt.signature)
    except nacl.exceptions.BadSignatureError:
        raise JwtError("the JWT signature does not match its issuer") from None
    return jwt


def public_key(pair: nkeys.KeyPair) -> str:
    """An nkey pair's public key as text (`A...`, `U...`)."""
    return bytes(pair.public_key).decode("ascii")


def public_key_bytes(key: str) -> bytes:
    """The raw 32-byte ed25519 key inside an encoded nkey public key (prefix byte, key, CRC-16), checked."""
    try:
        raw = base64.b32decode(key + "=" * (-len(key) % 8))
    except (binascii.Error, ValueError):
        raise JwtError("the issuer is not a base32 nkey") from None
    if len(raw) != 35 or not nkeys.valid_public_prefix_byte(raw[0]):
        raise JwtError("the issuer is not an nkey public key")
    if nkeys.crc16(bytearray(raw[:-2])) != int.from_bytes(raw[-2:], "little"):
        raise JwtError("the issuer nkey fails its checksum")
    return raw[1:33]


def authorization_request(jwt: Jwt) -> AuthRequest:
    """The parts of a server's `authorization_request` claims the callout needs; a JwtError names a missing one."""
    nats = jwt.claims.get("nats")
    if not isinstance(nats, dict) or nats.get("type") != "authorization_request":
        raise JwtError("not an authorization_request JWT")
    user_nkey = nats.get("user_nkey")
    server = nats.get("server_id")
    if not isinstance(user_nkey, str) or not user_nkey.startswith(USER_PREFIX):
        raise JwtError("authorization_request: user_nkey missing")
    if not isinstance(server, dict) or not isinstance(server.get("id"), str):
        raise JwtError("authorization_request: server_id.id missing")
    options = _object(nats.get("connect_opts"))
    client = _object(nats.get("client_info"))
    token = options.get("auth_token") or options.get("pass")
    return AuthRequest(
        user_nkey=user_nkey,
        server_id=server["id"],
        token=token if isinstance(token, str) and token else None,
        user=options.get("user") or None,
        client_host=client.get("host"),
        client_name=options.get("name") or None,
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def user_claims(
    *,
    user_nkey: str,
    name: str,
    permissions: Mapping[str, Any],
    now: int,
    expires: int | None,
    account: str = GLOBAL_ACCOUNT,
    max_subscriptions: int = NO_LIMIT,
    max_payload: int = NO_LIMIT,
) -> dict[str, Any]:
    """A v2 user JWT's claims: who (`sub` = the connection's user key), where (`aud` = account), and may what.

    `permissions` holds `pub`/`sub` (each `{"allow": [...], "deny": [...]}`) and optionally `resp`. The
    subscription and payload limits default to unlimited (-1), as nats-io/jwt's NewUserClaims does: a 0 there
    would mean none allowed. The server enforces both on the connection.
    """
    claims: dict[str, Any] = {
        "iat": now,
        "name": name,
        "sub": user_nkey,
        "aud": account,
        "nats": {
            **permissions,
            "subs": max_subscriptions,
            "data": NO_LIMIT,
            "payload": max_payload,
            "type": "user",
            "version": VERSION,
        },
    }
    if expires is not None:
        claims["exp"] = expires
    return claims


def authorization_response(
    *, user_nkey: str, server_id: str, now: int, user_jwt: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """An `authorization_response`'s claims: either a user JWT (admitted) or an error (refused)."""
    nats: dict[str, Any] = {"type": "authorization_response", "version": VERSION}
    if user_jwt is not None:
        nats["jwt"] = user_jwt
    if error is not None:
        nats["error"] = error
    return {"iat": now, "sub": user_nkey, "aud": server_id, "nats": nats}
