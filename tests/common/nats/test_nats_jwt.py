"""NATS JWTs: encode/decode round trips, signatures checked with nkeys, and the claim shapes the server reads."""

from __future__ import annotations

import base64
import json
import secrets

import nkeys
import pytest

from services.common.nats import nats_jwt

NOW = 1_795_000_000  # 2026-11-18T...Z: literal times, no clock


def account() -> nkeys.KeyPair:
    return nkeys.from_seed(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_ACCOUNT))


def user_key() -> str:
    return nats_jwt.public_key(nkeys.from_seed(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)))


def server() -> nkeys.KeyPair:
    return nkeys.from_seed(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_SERVER))


def parts(token: str) -> tuple[dict[str, object], dict[str, object], bytes]:
    head, body, sig = token.split(".")
    return (
        json.loads(nats_jwt.b64url_decode(head)),
        json.loads(nats_jwt.b64url_decode(body)),
        nats_jwt.b64url_decode(sig),
    )


@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"abc", b"\xff\xfe\x00", bytes(range(256))])
def test_b64url_round_trips_without_padding(data: bytes) -> None:
    text = nats_jwt.b64url(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert nats_jwt.b64url_decode(text) == data


def test_encode_then_decode_round_trips_and_sets_issuer_and_id() -> None:
    signer = account()
    claims = {"sub": user_key(), "iat": NOW, "nats": {"type": "user", "version": 2}}
    token = nats_jwt.encode(claims, signer)
    header, body, _ = parts(token)
    assert header == {"typ": "JWT", "alg": "ed25519-nkey"}
    assert body["iss"] == nats_jwt.public_key(signer)
    assert body["jti"] == nats_jwt.claims_id(body)
    decoded = nats_jwt.decode(token)
    assert {k: v for k, v in decoded.claims.items() if k not in ("iss", "jti")} == claims


def test_the_signature_verifies_with_nkeys_and_breaks_when_the_claims_change() -> None:
    signer = account()
    token = nats_jwt.encode({"sub": user_key(), "iat": NOW}, signer)
    head, body, sig = token.split(".")
    assert signer.verify(f"{head}.{body}".encode(), nats_jwt.b64url_decode(sig))
    assert nats_jwt.verify(token, issuer_prefix="A").issuer == nats_jwt.public_key(signer)
    forged_claims = dict(json.loads(nats_jwt.b64url_decode(body)), sub=user_key())
    forged = f"{head}.{nats_jwt.b64url(json.dumps(forged_claims).encode())}.{sig}"
    with pytest.raises(nkeys.ErrInvalidSignature):
        signer.verify(forged.rsplit(".", 1)[0].encode(), nats_jwt.b64url_decode(sig))
    with pytest.raises(nats_jwt.JwtError, match="signature"):
        nats_jwt.verify(forged)


def test_verify_demands_the_issuer_kind_and_a_signature_by_the_issuer() -> None:
    token = nats_jwt.encode({"iat": NOW}, account())
    with pytest.raises(nats_jwt.JwtError, match="issuer must be a N"):
        nats_jwt.verify(token, issuer_prefix="N")
    other = nats_jwt.public_key(account())
    head, body, sig = token.split(".")
    claims = json.loads(nats_jwt.b64url_decode(body))
    claims["iss"] = other  # claims another issuer, keeps the first one's signature
    relabelled = f"{head}.{nats_jwt.b64url(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(nats_jwt.JwtError, match="signature"):
        nats_jwt.verify(relabelled)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "three"),
        ("a.b", "three"),
        ("a.b.c.d", "three"),
        ("!!!.e30.e30", "base64url|not JSON"),
        (f"{nats_jwt.b64url(b'[1]')}.e30.AA", "header is not a JSON object"),
        (nats_jwt.b64url(b'{"alg":"HS256","typ":"JWT"}') + ".e30.AA", "unsupported JWT header"),
        (f"{nats_jwt.b64url(json.dumps(nats_jwt.HEADER).encode())}.bm90IGpzb24.AA", "claims is not JSON"),
    ],
)
def test_malformed_tokens_are_a_jwt_error_naming_the_part(token: str, message: str) -> None:
    with pytest.raises(nats_jwt.JwtError, match=message):
        nats_jwt.decode(token)


@pytest.mark.parametrize(
    "issuer",
    ["", "not-a-key", "A" * 56, "U" + "A" * 55],
)
def test_bad_issuer_keys_are_refused(issuer: str) -> None:
    token = nats_jwt.encode({"iat": NOW}, account())
    head, body, sig = token.split(".")
    claims = dict(json.loads(nats_jwt.b64url_decode(body)), iss=issuer)
    with pytest.raises(nats_jwt.JwtError):
        nats_jwt.verify(f"{head}.{nats_jwt.b64url(json.dumps(claims).encode())}.{sig}")


def test_public_key_bytes_checks_the_crc() -> None:
    key = nats_jwt.public_key(account())
    raw = bytearray(base64.b32decode(key + "=" * (-len(key) % 8)))
    assert nats_jwt.public_key_bytes(key) == bytes(raw[1:33])
    raw[5] ^= 1
    broken = base64.b32encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(nats_jwt.JwtError, match="checksum"):
        nats_jwt.public_key_bytes(broken)


def request_token(signer: nkeys.KeyPair, connect_opts: dict[str, object], user: str) -> str:
    """An authorization request shaped like the one nats-server 2.15 sends (captured field names)."""
    sid = nats_jwt.public_key(signer)
    claims = {
        "aud": "nats-authorization-request",
        "iat": NOW,
        "exp": NOW + 2,
        "sub": nats_jwt.public_key(account()),
        "nats": {
            "server_id": {"name": "test", "host": "127.0.0.1", "id": sid, "version": "2.15.1"},
            "user_nkey": user,
            "client_info": {"host": "127.0.0.1", "id": 9, "kind": "Client", "type": "nats"},
            "connect_opts": {**connect_opts, "lang": "python3", "version": "2.16.0", "protocol": 1},
            "type": "authorization_request",
            "version": 2,
        },
    }
    return nats_jwt.encode(claims, signer)


@pytest.mark.parametrize(
    ("options", "token", "user"),
    [
        ({"auth_token": "cep_secret"}, "cep_secret", None),
        ({"user": "anyone", "pass": "cep_secret"}, "cep_secret", "anyone"),
        ({"name": "producer-1"}, None, None),
        ({"auth_token": ""}, None, None),
    ],
)
def test_an_authorization_request_yields_the_presented_token(
    options: dict[str, object], token: str | None, user: str | None
) -> None:
    signer, who = server(), user_key()
    ask = nats_jwt.authorization_request(nats_jwt.verify(request_token(signer, options, who), issuer_prefix="N"))
    assert (ask.user_nkey, ask.server_id, ask.token, ask.user) == (who, nats_jwt.public_key(signer), token, user)
    assert ask.client_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("nats", "message"),
    [
        (None, "not an authorization_request"),
        ({"type": "user"}, "not an authorization_request"),
        ({"type": "authorization_request", "server_id": {"id": "N"}}, "user_nkey"),
        ({"type": "authorization_request", "user_nkey": "UX"}, "server_id"),
    ],
)
def test_incomplete_requests_name_the_missing_field(nats: object, message: str) -> None:
    jwt = nats_jwt.decode(nats_jwt.encode({"iat": NOW, "nats": nats}, server()))
    with pytest.raises(nats_jwt.JwtError, match=message):
        nats_jwt.authorization_request(jwt)


def test_user_claims_have_the_v2_user_shape_with_unlimited_limits() -> None:
    who = user_key()
    perms = {"pub": {"allow": ["cep.ingest.acme"]}, "sub": {"allow": ["_INBOX_acme.>"]}}
    claims = nats_jwt.user_claims(user_nkey=who, name="tok_1", permissions=perms, now=NOW, expires=NOW + 900)
    assert claims == {
        "iat": NOW,
        "exp": NOW + 900,
        "name": "tok_1",
        "sub": who,
        "aud": "$G",
        "nats": {
            "pub": {"allow": ["cep.ingest.acme"]},
            "sub": {"allow": ["_INBOX_acme.>"]},
            "subs": -1,
            "data": -1,
            "payload": -1,
            "type": "user",
            "version": 2,
        },
    }
    assert "exp" not in nats_jwt.user_claims(user_nkey=who, name="n", permissions={}, now=NOW, expires=None)


def test_authorization_responses_carry_either_the_user_jwt_or_the_error() -> None:
    who = user_key()
    admitted = nats_jwt.authorization_response(user_nkey=who, server_id="NSERVER", now=NOW, user_jwt="a.b.c")
    assert admitted == {
        "iat": NOW,
        "sub": who,
        "aud": "NSERVER",
        "nats": {"type": "authorization_response", "version": 2, "jwt": "a.b.c"},
    }
    refused = nats_jwt.authorization_response(user_nkey=who, server_id="NSERVER", now=NOW, error="unknown token")
    assert refused["nats"] == {"type": "authorization_response", "version": 2, "error": "unknown token"}
