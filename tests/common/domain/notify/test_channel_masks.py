"""Channel fields with a secret part: header values and URL credentials are shown masked and kept on a round trip."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.notify.channel_masks import MASK, mask_url, unmask_headers, unmask_url, url_secrets
from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.channels import (
    ChannelValidationError,
    parse_channel,
    public_view,
    secret_values,
    split_stored,
)

KEY = "key-Very-Secret-4711"
CRED = "https://bob:pw-Very-Secret-0815@hooks.example.com:8443/in?api_key=k-Secret-1&team=ops#top"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://hooks.example.com/in", "https://hooks.example.com/in"),
        ("https://bob:pw@h/in", f"https://{MASK}@h/in"),
        ("https://tok-only@h/in", f"https://{MASK}@h/in"),
        (CRED, f"https://{MASK}@hooks.example.com:8443/in?api_key={MASK}&team=ops#top"),
        (
            "http://h/?token=a&access_token=b&Signature=c&x=1",
            f"http://h/?token={MASK}&access_token={MASK}&Signature={MASK}&x=1",
        ),
        ("http://h/?password=&flag", "http://h/?password=&flag"),  # nothing to hide in an empty value
    ],
)
def test_credentials_and_secret_looking_query_values_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_url(masked) == masked  # masking is idempotent: a masked URL stays as it is


def test_the_mask_stands_for_the_stored_part() -> None:
    assert unmask_url(mask_url(CRED), CRED) == CRED
    # A changed path keeps the stored credentials and the stored query value that the mask stands for.
    moved = f"https://{MASK}@hooks.example.com:8443/v2?api_key={MASK}&team=sre"
    assert (
        unmask_url(moved, CRED)
        == "https://bob:pw-Very-Secret-0815@hooks.example.com:8443/v2?api_key=k-Secret-1&team=sre"
    )
    assert unmask_url("https://new:pw2@h/", CRED) == "https://new:pw2@h/"  # new credentials replace them
    with pytest.raises(ValueError, match="no stored"):
        unmask_url(f"https://{MASK}@h/", "https://h/")
    with pytest.raises(ValueError, match="no stored"):
        unmask_url(f"https://h/?token={MASK}", None)
    assert unmask_headers({"X-Api-Key": MASK, "X-Team": "ops"}, {"x-api-key": KEY}) == {
        "X-Api-Key": KEY,
        "X-Team": "ops",
    }
    with pytest.raises(ValueError, match="X-Other"):
        unmask_headers({"X-Other": MASK}, {"X-Api-Key": KEY})


def test_url_secrets_are_every_form_a_credential_may_take() -> None:
    found = url_secrets("https://b%40b:p%3Aw-1234@h/?token=t-5678")
    assert {"b%40b:p%3Aw-1234", "b@b", "p:w-1234", "p%3Aw-1234", "t-5678"} <= set(found)


def test_header_values_and_url_credentials_are_kept_apart_from_the_public_config() -> None:
    body = {"name": "h", "type": "webhook", "config": {"url": CRED, "headers": {"X-Api-Key": KEY}}}
    spec = parse_channel(body)
    assert spec.config["headers"] == {"X-Api-Key": MASK} and KEY not in str(spec.config)
    assert spec.config["url"] == mask_url(CRED) and "pw-Very" not in str(spec.config)
    assert spec.secrets == {"url": CRED, "headers": {"X-Api-Key": KEY}}
    assert spec.full_config()["url"] == CRED and spec.full_config()["headers"] == {"X-Api-Key": KEY}
    plain = parse_channel({"name": "h", "type": "webhook", "config": {"url": "https://h/in"}})
    assert plain.secrets == {} and plain.config["url"] == "https://h/in" and plain.config["headers"] == {}


def test_a_round_trip_of_what_get_shows_keeps_the_stored_values() -> None:
    body: dict[str, Any] = {"name": "h", "type": "api_call", "config": {"url": CRED, "headers": {"X-Api-Key": KEY}}}
    stored = parse_channel(body)
    again = parse_channel({"name": "h", "type": "api_call", "config": stored.config}, stored.secrets)
    assert again == stored
    # Left out: kept, like every secret. An explicit null clears.
    kept = parse_channel({"name": "h", "type": "api_call", "config": {"url": stored.config["url"]}}, stored.secrets)
    assert kept.secrets["headers"] == {"X-Api-Key": KEY} and kept.config["headers"] == {"X-Api-Key": MASK}
    cleared = parse_channel(
        {"name": "h", "type": "api_call", "config": {"url": "https://h/", "headers": None}}, stored.secrets
    )
    assert cleared.secrets == {} and "headers" not in cleared.config
    # One header changed, one kept, one added.
    changed = parse_channel(
        {"name": "h", "type": "api_call", "config": {"url": CRED, "headers": {"X-Api-Key": MASK, "X-New": "n-1"}}},
        {"headers": {"X-Api-Key": KEY, "X-Gone": "g"}},
    )
    assert changed.secrets["headers"] == {"X-Api-Key": KEY, "X-New": "n-1"}


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"url": f"https://{MASK}@h/"}, "config.url"),
        ({"url": "https://h/", "headers": {"X-Api-Key": MASK}}, "config.headers"),
    ],
)
def test_a_mask_with_nothing_stored_is_named_and_never_quotes_a_secret(config: dict[str, Any], path: str) -> None:
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel({"name": "h", "type": "webhook", "config": config}, {"auth_token": KEY})
    assert [e.path for e in caught.value.errors] == [path] and KEY not in str(caught.value)


def test_types_mark_header_values_and_url_credentials_secret() -> None:
    for name in ("webhook", "api_call"):
        fields = {f["name"]: f for f in TYPES[name].as_dict()["fields"]}
        assert fields["headers"]["secret"] is True and fields["headers"]["secret_parts"]
        assert fields["url"]["secret"] is False and "userinfo" in fields["url"]["secret_parts"]
    assert "secret_parts" not in {f["name"]: f for f in TYPES["slack"].as_dict()["fields"]}["webhook_url"]


def test_a_config_stored_before_masking_is_shown_masked_and_split() -> None:
    legacy_config = {"url": CRED, "method": "POST", "headers": {"X-Api-Key": KEY}, "timeout": "10s"}
    shown = public_view("webhook", legacy_config)
    assert shown["headers"] == {"X-Api-Key": MASK} and shown["url"] == mask_url(CRED)
    public, secrets = split_stored("webhook", legacy_config, {"auth_token": "t-1234"})
    assert public == shown and secrets == {"auth_token": "t-1234", "url": CRED, "headers": {"X-Api-Key": KEY}}
    assert split_stored("webhook", public, secrets) == (public, secrets)  # already split: unchanged


def test_secret_values_cover_headers_and_url_credentials() -> None:
    config = {"url": CRED, "headers": {"X-Api-Key": KEY}, "auth_token": "t-1234", "method": "POST"}
    values = set(secret_values("webhook", config))
    assert {KEY, "t-1234", "pw-Very-Secret-0815", "k-Secret-1", "bob:pw-Very-Secret-0815"} <= values
    assert "POST" not in values and "https://hooks.example.com" not in " ".join(values)
