"""The gateway's side of the OpenID provider: discovery, the authorization URL (code + PKCE), the code exchange,
and the id token's checks (signature by the provider's JWKS, issuer, audience, expiry, nonce).

The protocol pieces are Authlib's (grant URI, token request, S256 challenge) and joserfc's (JWS, JWT claims);
this module only wires them to httpx. Discovery and the JWKS are read once and kept; an id token signed by a key
not in the kept JWKS makes it read the JWKS again (the provider rotated its keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.gateway.oidc.oidc_settings import OidcSettings
from services.gateway.oidc.web_session import SignInTransaction

# Asymmetric algorithms only: an id token is checked against the provider's public keys, never a shared secret.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class ProviderError(Exception):
    """The provider could not be asked (`status` 502), or its answer does not prove a sign-in (400: a stale or
    replayed code, a refused id token); the message is safe to show."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Discovery:
    """The parts of the provider's `/.well-known/openid-configuration` the sign-in uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


class Provider:
    """One configured OpenID provider and the client registered there."""

    def __init__(self, settings: OidcSettings) -> None:
        assert settings.issuer and settings.client_id  # OidcSettings refuses the one without the other
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self.client_id = settings.client_id
        self._discovery: Discovery | None = None
        self._keys: KeySet | None = None

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.settings.http_timeout_seconds) as client:
                response = await client.get(url, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderError(f"the OpenID provider did not answer ({type(exc).__name__})") from None
        return _json_object(response, url)

    async def discovery(self) -> Discovery:
        """The provider's endpoints (read once); its `issuer` must be the configured one."""
        if self._discovery is None:
            doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            try:
                found = Discovery(
                    issuer=str(doc["issuer"]),
                    authorization_endpoint=str(doc["authorization_endpoint"]),
                    token_endpoint=str(doc["token_endpoint"]),
                    jwks_uri=str(doc["jwks_uri"]),
                    userinfo_endpoint=doc.get("userinfo_endpoint"),
                )
            except KeyError as exc:
                raise ProviderError(f"the provider's discovery document lacks {exc.args[0]!r}") from None
            if found.issuer.rstrip("/") != self.issuer:
                raise ProviderError("the provider's discovery document names another issuer than CEP_OIDC_ISSUER")
            self._discovery = found
        return self._discovery

    async def authorization_url(self, redirect_uri: str, next_path: str) -> tuple[str, SignInTransaction]:
        """Where to send the browser, and the transaction (state, nonce, PKCE verifier) /callback checks."""
        endpoints = await self.discovery()
        transaction = SignInTransaction(
            state=generate_token(32),
            nonce=generate_token(32),
            code_verifier=generate_token(64),
            redirect_uri=redirect_uri,
            next_path=next_path,
        )
        url = prepare_grant_uri(
            endpoints.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=self.settings.scopes,
            state=transaction.state,
            nonce=transaction.nonce,
            code_challenge=create_s256_code_challenge(transaction.code_verifier),
            code_challenge_method="S256",
        )
        return url, transaction

    async def redeem(self, code: str, transaction: SignInTransaction, now: int) -> dict[str, Any]:
        """Exchange the code for tokens and return the verified claims (the id token's, with userinfo's added)."""
        endpoints = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": transaction.redirect_uri,
            "code_verifier": transaction.code_verifier,
        }
        auth: httpx.Auth | None = None
        if self.settings.client_secret is not None:  # client_secret_basic (RFC 6749 2.3.1: form-encoded parts)
            secret = self.settings.client_secret.get_secret_value()
            auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(secret, safe=""))
        else:  # a public client proves itself by the PKCE verifier alone
            form["client_id"] = self.client_id
        try:
            async with httpx.AsyncClient(timeout=self.settings.http_timeout_seconds, auth=auth) as client:
                response = await client.post(endpoints.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise ProviderError(f"the OpenID provider did not answer ({type(exc).__name__})") from None
        tokens = _json_object(response, "the token endpoint")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the provider sent no id token")
        claims = await self.verify_id_token(id_token, transaction.nonce, now)
        access_token = tokens.get("access_token")
        if endpoints.userinfo_endpoint and isinstance(access_token, str):
            extra = await self._get_json(
                endpoints.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
            )
            if extra.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: a userinfo of another subject is not used
                claims = {**extra, **claims}
        return claims

    async def verify_id_token(self, id_token: str, nonce: str, now: int) -> dict[str, Any]:
        """The id token's claims once its signature, issuer, audience, expiry and nonce hold; ProviderError else."""
        try:
            token = jwt.decode(id_token, await self._key_set(id_token), algorithms=list(ID_TOKEN_ALGORITHMS))
            jwt.JWTClaimsRegistry(
                now=now,
                leeway=self.settings.clock_skew_seconds,
                iss={"essential": True, "value": (await self.discovery()).issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise ProviderError(f"the id token was refused: {exc}", 400) from None
        audiences = token.claims["aud"] if isinstance(token.claims["aud"], list) else [token.claims["aud"]]
        if len(audiences) > 1 and token.claims.get("azp") != self.client_id:
            raise ProviderError("the id token was refused: it was issued to another client (azp)", 400)
        return dict(token.claims)

    async def _key_set(self, id_token: str) -> KeySet:
        """The provider's keys; read again when the token names a key id the kept set lacks."""
        kid = _header_kid(id_token)
        if self._keys is None or (kid and not any(key.kid == kid for key in self._keys.keys)):
            doc = await self._get_json((await self.discovery()).jwks_uri)
            try:
                self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError):
                raise ProviderError("the provider's JWKS could not be read") from None
        return self._keys


def _header_kid(id_token: str) -> str | None:
    try:
        header = jws.extract_compact(id_token.encode()).headers()
    except (JoseError, ValueError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:  # a 4xx: it refused what we sent (a used or expired code), not an outage
        status = 400 if 400 <= response.status_code < 500 else 502
        raise ProviderError(f"the OpenID provider answered {response.status_code} from {what}", status)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderError(f"the OpenID provider's answer from {what} is not a JSON object")
    return body
