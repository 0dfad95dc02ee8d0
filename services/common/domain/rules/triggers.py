"""The trigger models of a rule (metric, event, schedule, anomaly, pattern), and which model each trigger type takes.

The pattern trigger lives with its matcher (patterns/spec.py); it is registered here like the others.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Literal, TypeAlias

from pydantic import Field, ValidationInfo, field_validator, model_validator

from services.common.domain.patterns.spec import PatternStep, PatternTrigger
from services.common.domain.rules.field_types import (
    Duration,
    FieldPath,
    Frozen,
    GroupBy,
    Number,
    field_error,
    from_client,
)

Operator: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
Aggregation: TypeAlias = Literal["avg", "sum", "min", "max", "count", "p95", "rate"]
TriggerType: TypeAlias = Literal["metric", "event", "schedule", "anomaly", "pattern"]
AnomalyMethod: TypeAlias = Literal["zscore", "iqr", "ema", "multiscale", "contextual", "hbos"]

# A schedule must fire within this many years: croniter's own search bound, which the scheduler's next-fire search
# uses too, so an accepted schedule always has a next run; it also bounds the work of the check (milliseconds).
# The rarest real schedules (`0 0 * 2 1#5`, the 5th Monday of a February) fire every 28 to 40 years.
CRON_SEARCH_YEARS = 50
_CRON_SEARCH_FROM = datetime(2000, 1, 1)  # any fixed start will do (the calendar repeats); validation reads no clock


class MetricTrigger(Frozen):
    """A threshold on a payload value or on a windowed aggregate of it."""

    metric_name: FieldPath
    operator: Operator
    threshold: Number
    duration: Duration | None = None
    aggregation: Aggregation | None = None
    window: Duration | None = None
    group_by: GroupBy | None = None
    resolve_after: Duration | None = None
    no_data_after: Duration | None = None
    recover_threshold: Number | None = None

    @model_validator(mode="after")
    def _window_goes_with_aggregation(self) -> MetricTrigger:
        if self.aggregation is not None and self.window is None:
            raise field_error("window", "required when an aggregation is set")
        if self.window is not None and self.aggregation is None:
            raise field_error("aggregation", "required when a window is set (avg, sum, min, max, count, p95, rate)")
        return self


class EventTrigger(Frozen):
    """Matches events of one type; an open episode absorbs later occurrences."""

    event_type: Annotated[str, Field(min_length=1, max_length=200)]
    group_by: GroupBy | None = None
    resolve_after: Duration = "5m"
    notify_resolved: bool = False


class ScheduleTrigger(Frozen):
    """A 5-field cron schedule in a time zone; every run is its own event."""

    cron: str
    timezone: str = "UTC"
    misfire: Literal["catch_up", "skip"] = "catch_up"

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str, info: ValidationInfo) -> str:
        from croniter import croniter  # pure computation; imported lazily to keep import time low
        from croniter.croniter import CroniterBadDateError

        if len(value.split()) != 5:
            raise ValueError("a cron expression has 5 fields: minute hour day-of-month month day-of-week")
        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
        if not from_client(info):
            return value  # a rule saved before this check still loads (the scheduler finds no next run for it)
        try:
            croniter(value, _CRON_SEARCH_FROM, max_years_between_matches=CRON_SEARCH_YEARS).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(
                f"the cron expression {value!r} never fires: no date matches its day and month fields "
                f"(like February 30th) within {CRON_SEARCH_YEARS} years"
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class AnomalyTrigger(Frozen):
    """An outlier detector on a payload value, with a learned baseline per group key."""

    value_path: FieldPath
    anomaly_method: AnomalyMethod
    threshold: Annotated[Number, Field(gt=0)]
    min_baseline: Annotated[int, Field(ge=2)] = 30
    iqr_multiplier: Annotated[Number, Field(gt=0)] | None = None
    ema_alpha: Annotated[Number, Field(gt=0, le=1)] | None = None
    # multiscale, contextual (docs/anomaly.md): baseline and record spans, samples an onset must outscore, the season
    baseline_span: Annotated[int, Field(ge=2, le=20_000)] | None = None
    record_span: Annotated[int, Field(ge=1, le=20_000)] | None = None
    rest_span: Annotated[int, Field(ge=1, le=5_000)] | None = None
    season_seconds: Annotated[Number, Field(gt=0, le=31_536_000)] | None = None
    # pyod methods (hbos): rolling training rows, a refit every N samples, swapped in refit_lag samples later
    training_window: Annotated[int, Field(ge=10, le=10_000)] | None = None
    refit_every: Annotated[int, Field(ge=10, le=100_000)] | None = None
    refit_lag: Annotated[int, Field(ge=0, le=10_000)] | None = None
    window: Duration | None = None
    group_by: GroupBy | None = None
    resolve_after: Duration | None = None


TriggerSpec: TypeAlias = MetricTrigger | EventTrigger | ScheduleTrigger | AnomalyTrigger | PatternTrigger
TRIGGER_MODELS: dict[str, type[Frozen]] = {
    "metric": MetricTrigger,
    "event": EventTrigger,
    "schedule": ScheduleTrigger,
    "anomaly": AnomalyTrigger,
    "pattern": PatternTrigger,
}


def placeholder_trigger(trigger_type: str) -> Frozen:
    """A valid trigger of the type, standing in for a bad one so the rest of a rule is still validated."""
    placeholders: dict[str, Frozen] = {
        "metric": MetricTrigger(metric_name="x", operator=">", threshold=0),
        "event": EventTrigger(event_type="x"),
        "schedule": ScheduleTrigger(cron="* * * * *"),
        "anomaly": AnomalyTrigger(value_path="x", anomaly_method="zscore", threshold=3),
        "pattern": PatternTrigger(steps=[PatternStep(name="x", event_type="x")], within="1m"),
    }
    return placeholders[trigger_type]
