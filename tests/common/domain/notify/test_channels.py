"""Channel validation: defaults, write-only secrets kept apart, and errors that name the field path."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.notify.channel_types import TYPES, timeout_seconds
from services.common.domain.notify.channels import ChannelValidationError, parse_channel

URL = "https://hooks.example.com/cep"


def test_defaults_are_filled_in_and_secrets_kept_apart() -> None:
    spec = parse_channel(
        {"name": "ops", "type": "webhook", "config": {"url": URL, "auth_token": "tok-1", "method": "put"}}
    )
    assert spec.config == {"url": URL, "method": "PUT", "headers": {}, "timeout": "10s"}
    assert spec.secrets == {"auth_token": "tok-1"} and spec.secrets_set == ["auth_token"]
    assert spec.full_config()["auth_token"] == "tok-1"


def test_a_stored_secret_is_kept_unless_replaced_or_cleared() -> None:
    stored = {"auth_token": "old-1", "routing_key": "other-type"}
    body = {"name": "ops", "type": "webhook", "config": {"url": URL}}
    assert parse_channel(body, stored).secrets == {"auth_token": "old-1"}
    assert parse_channel({**body, "config": {"url": URL, "auth_token": "new-2"}}, stored).secrets == {
        "auth_token": "new-2"
    }
    assert parse_channel({**body, "config": {"url": URL, "auth_token": None}}, stored).secrets == {}
    pager = parse_channel({"name": "pd", "type": "pagerduty", "config": {}}, {"routing_key": "rk-1"})
    assert pager.secrets == {"routing_key": "rk-1"} and pager.config["url"].startswith("https://events.pagerduty")


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        (None, [""]),
        ({"type": "webhook", "config": {"url": URL}}, ["name"]),
        ({"name": "x", "type": "fax"}, ["type"]),
        ({"name": "x", "type": "webhook", "config": []}, ["config"]),
        ({"name": "x", "type": "webhook", "config": {}}, ["config.url"]),
        ({"name": "x", "type": "webhook", "config": {"url": "not a url"}}, ["config.url"]),
        ({"name": "x", "type": "webhook", "config": {"url": URL, "timeout": "0s"}}, ["config.timeout"]),
        ({"name": "x", "type": "webhook", "config": {"url": URL, "max_attempts": 11}}, ["config.max_attempts"]),
        ({"name": "x", "type": "webhook", "config": {"url": URL, "headers": {"X": "a\nb"}}}, ["config.headers"]),
        (
            {
                "name": "x",
                "type": "webhook",
                "config": {"url": URL, "auth_token": "t-1", "basic_user": "u", "basic_password": "p-1"},
            },
            ["config.auth_token"],
        ),
        (
            {"name": "x", "type": "email", "config": {"host": "h", "from": "a@b", "to": ["nope"], "port": 0}},
            ["config.port", "config.to"],
        ),
        ({"name": "x", "type": "api_call", "config": {"url": URL, "body": "{{ x"}}, ["config.body"]),
        ({"name": "x", "type": "slack", "config": {"webhook_url": "x"}}, ["config.webhook_url"]),
    ],
)
def test_invalid_fields_are_named(body: Any, paths: list[str]) -> None:
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel(body)
    assert sorted(e.path for e in caught.value.errors) == sorted(paths)


def test_errors_never_quote_a_secret_value() -> None:
    body = {"name": "x", "type": "slack", "config": {"webhook_url": "ftp://SECRET-hook-value"}}
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel(body)
    assert "SECRET" not in str(caught.value)


def test_every_type_lists_its_fields() -> None:
    assert set(TYPES) == {"webhook", "slack", "email", "pagerduty", "api_call"}
    for channel_type in TYPES.values():
        listed = channel_type.as_dict()
        assert {f["name"] for f in listed["fields"]} >= {"timeout", "max_attempts"}
    assert TYPES["slack"].secret_names == {"webhook_url"}


def test_timeout_seconds() -> None:
    assert timeout_seconds({"timeout": "250ms"}) == 0.25
    assert timeout_seconds({}) == 10.0
