"""Channel validation added with the new senders: paired credentials, addresses, signing secrets, previews."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.channels import ChannelValidationError, parse_channel
from services.common.domain.notify.signing import sign, signing_key
from services.common.domain.notify.template_preview import SAMPLE_EVENT, preview, preview_event, preview_rule

MAIL: dict[str, Any] = {"host": "smtp.example.org", "from": "cep@example.org", "to": ["ops@example.org"]}


def _errors(kind: str, config: dict[str, Any]) -> list[str]:
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel({"name": "c", "type": kind, "config": config})
    return [e.path for e in caught.value.errors]


def test_email_defaults_and_secrets() -> None:
    spec = parse_channel({"name": "m", "type": "email", "config": {**MAIL, "username": "u", "password": "pw-123456"}})
    assert spec.config["port"] == 587 and spec.config["starttls"] is True and spec.config["tls_verify"] is True
    assert spec.secrets == {"password": "pw-123456"} and "password" not in spec.config


@pytest.mark.parametrize(
    ("kind", "config", "paths"),
    [
        ("email", {**MAIL, "username": "u"}, ["config.password"]),
        ("email", {**MAIL, "password": "pw-123456"}, ["config.username"]),
        ("email", {**MAIL, "to": ["ops@example.org\r\nBcc: x@evil.test"]}, ["config.to"]),
        ("email", {**MAIL, "to": ["a b@example.org"]}, ["config.to"]),
        ("email", {**MAIL, "tls_verify": "no"}, ["config.tls_verify"]),
        ("api_call", {"url": "http://h/", "basic_user": "u"}, ["config.basic_password"]),
        ("webhook", {"url": "http://h/", "basic_password": "pw-123456"}, ["config.basic_user"]),
        ("webhook", {"url": "http://h/", "secret": "whsec_!!!"}, ["config.secret"]),
    ],
)
def test_invalid_configs_name_the_field(kind: str, config: dict[str, Any], paths: list[str]) -> None:
    assert _errors(kind, config) == paths


def test_slack_username_needs_no_password_and_api_call_takes_auth() -> None:
    parse_channel({"name": "s", "type": "slack", "config": {"webhook_url": "https://hooks/x", "username": "cep"}})
    spec = parse_channel({"name": "a", "type": "api_call", "config": {"url": "http://h/", "auth_token": "tok-123456"}})
    assert spec.secrets == {"auth_token": "tok-123456"} and TYPES["api_call"].secret_names >= {"auth_token"}


def test_signing_keys_and_signatures() -> None:
    key = b"0123456789abcdef"
    assert signing_key("whsec_" + base64.b64encode(key).decode()) == key
    assert signing_key("whsec_" + base64.b64encode(key).decode().rstrip("=")) == key  # unpadded is accepted
    assert signing_key("plain-secret") == b"plain-secret"
    with pytest.raises(ValueError, match="base64"):
        signing_key("whsec_***")
    assert sign(b"k", "id", 1, b"{}") == sign(b"k", "id", 1, b"{}") != sign(b"k", "id", 2, b"{}")
    assert sign(b"k", "id", 1, b"{}").startswith("v1,")


def test_previews_use_the_sample_the_rule_and_the_callers_fields() -> None:
    event = preview_event({"severity": "low"}, {"rule_id": "r9", "name": "disk", "severity": "critical"}, "acme")
    assert (event["rule_id"], event["rule_name"], event["severity"], event["tenant"]) == ("r9", "disk", "low", "acme")
    assert preview_rule(SAMPLE_EVENT, None)["name"] == "sample_rule"
    assert preview("{{ rule.name }}/{{ severity }}", event, preview_rule(event, {"name": "disk"})) == {
        "ok": True,
        "rendered": "disk/low",
    }
    assert preview("{{ nope }}", event, {})["error"]["kind"] == "template"
