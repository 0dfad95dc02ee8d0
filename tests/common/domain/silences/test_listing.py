"""Which silences an API filter selects (each filter matcher must be one of the silence's own) and their order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.domain.labels.parse import parse_matchers
from services.common.domain.silences.listing import in_listing_order, matches_filter
from services.common.domain.silences.model import Silence

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _silence(ident: str, matchers: str, start_hour: int = 11, end_hour: int = 13) -> Silence:
    return Silence(
        id=ident,
        matchers=tuple(parse_matchers(matchers)),
        starts_at=datetime(2025, 6, 1, start_hour, tzinfo=UTC),
        ends_at=datetime(2025, 6, 1, end_hour, tzinfo=UTC),
        created_by="a",
        comment="c",
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("silence", "filters", "expected"),
    [
        ("team=db", "", True),
        ("team=db", "team=db", True),
        ("team=db", 'team="db"', True),
        ("team=db", "team=~db", False),  # same value, another operator
        ("team=db", "team=~d.*", False),  # a filter does not match values
        ("team=~d.*", "team=~d.*", True),
        ("team=db,env=prod", "env=prod", True),
        ("team=db,env=prod", "env=prod,team=web", False),
        ("env!=dev", "env!=dev", True),
        ("env!=dev", "env=dev", False),
    ],
)
def test_filter_selects_silences_that_have_the_matcher(silence: str, filters: str, expected: bool) -> None:
    assert matches_filter(_silence("s", silence), parse_matchers(filters) if filters else []) is expected


def test_listing_order_is_active_by_end_then_pending_by_start_then_expired_latest_first() -> None:
    silences = [
        _silence("expired-early", "a=1", 8, 9),
        _silence("pending-late", "a=1", 15, 16),
        _silence("active-long", "a=1", 11, 14),
        _silence("expired-late", "a=1", 9, 10),
        _silence("active-short", "a=1", 11, 13),
        _silence("pending-soon", "a=1", 13, 16),
    ]
    order = [s.id for s in in_listing_order(silences, NOW)]
    assert order == ["active-short", "active-long", "pending-soon", "pending-late", "expired-late", "expired-early"]
