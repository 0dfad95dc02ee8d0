"""The actions of a rule (what happens when it fires) and its suppression (the notifier's noise controls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.field_types import Duration, FieldPath, Frozen, field_error

DAILY_REPORT = "daily_report"  # an action of schedule rules: a digest of the tenant's last day of events
REPORT_MAX_SECONDS = 7 * 86400


def _seconds(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        return -1.0


class Action(BaseModel):
    """One action (`notify`, `webhook`, `api_call`, ...); type-specific fields are kept as given."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Annotated[str, Field(min_length=1, max_length=64)]
    channel: str | None = None
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_null_extras(cls, data: Any) -> Any:
        # A null type-specific field means "not set", as canonical() writes it; keeping it would break round trips.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None or k in cls.model_fields}
        return data

    @model_validator(mode="after")
    def _daily_report_fields(self) -> Action:
        if self.type == DAILY_REPORT:
            if not self.channel:
                raise field_error("channel", "a daily_report action needs the channel the report goes to")
            window = getattr(self, "window", None)
            if window is not None and not (isinstance(window, str) and 0 < _seconds(window) <= REPORT_MAX_SECONDS):
                raise field_error("window", "a duration up to 7d, like '24h' (default)")
        return self


class Suppression(Frozen):
    """Per-rule noise controls applied by the notifier (docs/notifications.md).

    `cooldown`: per alert, no second firing notification within it. `storm_budget` per `storm_window` (default
    20 per 5m): past it, one digest instead. Grouping, on when `group_by` or `group_wait` is set: notifications
    of alerts with the same `group_by` payload values go out together, the first batch after `group_wait`
    (default 30s), later ones at most every `group_interval` (default 5m), and while any stays firing and
    un-acknowledged, again every `repeat_interval` (no repeats unless set).
    """

    cooldown: Duration | None = None
    group_by: list[FieldPath] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    storm_budget: Annotated[int, Field(ge=1)] | None = None
    storm_window: Duration | None = None
