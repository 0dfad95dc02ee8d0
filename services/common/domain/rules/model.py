"""The rule model of the API contract: frozen models, defaults, and validation that names the field path."""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.common.domain.conditions.regex import pattern_problem
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError, RuleValidationError, from_pydantic
from services.common.domain.rules.paths import validate_path

Operator: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
Aggregation: TypeAlias = Literal["avg", "sum", "min", "max", "count", "p95", "rate"]
ConditionOp: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "regex", "exists"]
TriggerType: TypeAlias = Literal["metric", "event", "schedule", "anomaly"]
Priority: TypeAlias = Literal["P1", "P2", "P3", "P4", "P5"]
Severity: TypeAlias = Literal["critical", "high", "medium", "low", "info"]
AnomalyMethod: TypeAlias = Literal["zscore", "iqr", "ema", "multiscale", "contextual", "hbos"]

TRIGGER_TYPES: tuple[str, ...] = ("metric", "event", "schedule", "anomaly")
RESERVED_EVENT_PREFIX = "cep."
HANDOVER_FIELDS: tuple[str, ...] = ("purpose", "deactivation_criterion", "runbook", "rollback")
DAILY_REPORT = "daily_report"  # an action of schedule rules: a digest of the tenant's last day of events
REPORT_MAX_SECONDS = 7 * 86400
# A schedule must fire within this many years: croniter's own search bound, which the scheduler's next-fire search
# uses too, so an accepted schedule always has a next run; it also bounds the work of the check (milliseconds).
# The rarest real schedules (`0 0 * 2 1#5`, the 5th Monday of a February) fire every 28 to 40 years.
CRON_SEARCH_YEARS = 50
_CRON_SEARCH_FROM = datetime(2000, 1, 1)  # any fixed start will do (the calendar repeats); validation reads no clock


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _seconds(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        return -1.0


def _number(value: Any) -> int | float:
    """Accept a JSON number or a numeric string (forms send strings); keep integers integral."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
HandoverNote = Annotated[str, Field(max_length=20_000)]
FieldPath = Annotated[str, AfterValidator(validate_path)]
Number = Annotated[Any, PlainValidator(_number), WithJsonSchema({"type": "number"})]
GroupBy = Annotated[list[FieldPath], Field(min_length=1)]


class Frozen(BaseModel):
    """Base of every domain model: immutable, unknown fields refused (a typo is an error, not ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
            raise _field_error("window", "required when an aggregation is set")
        if self.window is not None and self.aggregation is None:
            raise _field_error("aggregation", "required when a window is set (avg, sum, min, max, count, p95, rate)")
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
        if not _from_client(info):
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


TriggerSpec: TypeAlias = MetricTrigger | EventTrigger | ScheduleTrigger | AnomalyTrigger
TRIGGER_MODELS: dict[str, type[Frozen]] = {
    "metric": MetricTrigger,
    "event": EventTrigger,
    "schedule": ScheduleTrigger,
    "anomaly": AnomalyTrigger,
}


class ConditionLeaf(Frozen):
    """`{"field": "severity", "op": "==", "value": "critical"}`.

    A `regex` pattern is checked against RE2 syntax and the caps of conditions/regex.py only for a client's rule
    (`parse_rule`, validation context `{"client_input": True}`). A rule read back from storage or the rule
    bucket keeps a pattern saved before RE2: it loads, and its condition evaluates to an error naming the
    problem until edited.
    """

    field: FieldPath
    op: ConditionOp
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self, info: ValidationInfo) -> ConditionLeaf:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise _field_error("value", f"'{self.op}' needs a list of values")
        if self.op in (">", ">=", "<", "<=") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float | str)
        ):
            raise _field_error("value", f"'{self.op}' needs a number or a string")
        if self.op == "regex":
            if not isinstance(self.value, str):
                raise _field_error("value", "'regex' needs a pattern string")
            problem = pattern_problem(self.value) if _from_client(info) else None
            if problem is not None:
                raise _field_error("value", problem)
        if self.op == "exists" and self.value is not None and not isinstance(self.value, bool):
            raise _field_error("value", "'exists' takes true, false or nothing")
        if self.op not in ("exists",) and self.value is None and self.op not in ("==", "!="):
            raise _field_error("value", f"'{self.op}' needs a value")
        return self


class ConditionGroup(Frozen):
    """`{"logic": "AND"|"OR", "conditions": [...]}` or `{"logic": "NOT", "conditions": [node]}`."""

    logic: Literal["AND", "OR", "NOT"]
    conditions: list[ConditionNode]

    @field_validator("conditions", mode="before")
    @classmethod
    def _is_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("conditions is a list of condition nodes")
        return value

    @model_validator(mode="after")
    def _arity(self) -> ConditionGroup:
        if self.logic == "NOT" and len(self.conditions) != 1:
            raise _field_error("conditions", "NOT takes exactly one condition")
        if not self.conditions:
            raise _field_error("conditions", f"{self.logic} needs at least one condition")
        return self


def _node_kind(value: Any) -> str:
    if isinstance(value, ConditionGroup) or (isinstance(value, Mapping) and "logic" in value):
        return "group"
    return "leaf"


ConditionNode: TypeAlias = Annotated[
    Annotated[ConditionGroup, Tag("group")] | Annotated[ConditionLeaf, Tag("leaf")],
    Discriminator(_node_kind),
]
ConditionGroup.model_rebuild()


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
                raise _field_error("channel", "a daily_report action needs the channel the report goes to")
            window = getattr(self, "window", None)
            if window is not None and not (isinstance(window, str) and 0 < _seconds(window) <= REPORT_MAX_SECONDS):
                raise _field_error("window", "a duration up to 7d, like '24h' (default)")
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


class RuleSpec(Frozen):
    """What a client writes: everything but the server-assigned fields."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    active: bool = False
    owner: str | None = None
    backup_owner: str | None = None
    priority: Priority = "P3"
    severity: Severity = "medium"
    trigger_type: TriggerType
    trigger_spec: TriggerSpec
    conditions: ConditionNode | None = None
    action_spec: list[Action] = Field(default_factory=list)
    suppression: Suppression | None = None
    # Handover notes (user guide sections 18-20); left out of the canonical JSON while unset.
    purpose: HandoverNote | None = None
    deactivation_criterion: HandoverNote | None = None
    runbook: HandoverNote | None = None
    rollback: HandoverNote | None = None

    @model_validator(mode="after")
    def _trigger_fits_type(self) -> RuleSpec:
        if not isinstance(self.trigger_spec, TRIGGER_MODELS[self.trigger_type]):
            raise _field_error("trigger_spec", f"is not a {self.trigger_type} trigger")
        if self.trigger_type != "schedule" and any(a.type == DAILY_REPORT for a in self.action_spec):
            raise _field_error("action_spec", "a daily_report action runs on a schedule rule only")
        return self

    def canonical(self) -> dict[str, Any]:
        """The canonical JSON of the writable fields (defaults filled, unset optional trigger fields dropped)."""
        data = self.model_dump(mode="json", exclude={"trigger_spec", "conditions", "action_spec", "suppression"})
        for name in HANDOVER_FIELDS:
            if data[name] is None:
                del data[name]
        data["trigger_spec"] = self.trigger_spec.model_dump(mode="json", exclude_none=True)
        data["conditions"] = (
            None if self.conditions is None else self.conditions.model_dump(mode="json", exclude_none=False)
        )
        data["action_spec"] = [a.model_dump(mode="json", exclude_none=True) for a in self.action_spec]
        data["suppression"] = (
            None if self.suppression is None else self.suppression.model_dump(mode="json", exclude_none=True)
        )
        return data


class Rule(RuleSpec):
    """A stored rule: the spec plus identity, tenant, version and timestamps."""

    rule_id: str
    tenant: str
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def spec(self) -> RuleSpec:
        return RuleSpec.model_validate(self.model_dump(include=set(RuleSpec.model_fields)))

    def canonical(self) -> dict[str, Any]:
        data = super().canonical()
        return {
            "rule_id": self.rule_id,
            "tenant": self.tenant,
            **data,
            "version": self.version,
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at),
        }


SERVER_FIELDS = frozenset(
    {"rule_id", "tenant", "version", "created_at", "updated_at", "error_count", "last_error", "last_error_at"}
)


def parse_rule(data: Any, *, stored: bool = False) -> RuleSpec:
    """Validate a create/replace body into a RuleSpec; raise RuleValidationError naming every bad field.

    Server-assigned fields (`rule_id`, `version`, ...) are ignored so a client may send back what it read.
    `trigger_spec` is validated against the model of `trigger_type`, so errors read `trigger_spec.threshold`.
    `stored=True` reads a rule saved earlier: a regex pattern is not refused for RE2 syntax (see ConditionLeaf).
    """
    context = None if stored else {"client_input": True}
    if not isinstance(data, Mapping):
        raise RuleValidationError([FieldError((), "a rule is a JSON object")])
    body = {k: v for k, v in data.items() if k not in SERVER_FIELDS}
    errors: list[FieldError] = []
    trigger_type = body.get("trigger_type")
    spec_model = TRIGGER_MODELS.get(trigger_type) if isinstance(trigger_type, str) else None
    trigger_spec: Any = body.get("trigger_spec")
    checked = spec_model is not None and "trigger_spec" in body  # trigger_spec errors are reported from here
    if spec_model is None and "trigger_spec" in body:
        body["trigger_spec"] = _placeholder("metric")  # without a valid type, only trigger_type is reported
    if checked and spec_model is not None:
        if not isinstance(trigger_spec, Mapping):
            errors.append(FieldError(("trigger_spec",), "trigger_spec is an object"))
        else:
            try:
                trigger_spec = spec_model.model_validate(dict(trigger_spec), context=context)
            except ValidationError as exc:
                errors.extend(from_pydantic(exc, prefix=("trigger_spec",)))
    try:
        # Validate the rest with a placeholder trigger when it failed, so every other error is reported too.
        rest = dict(body)
        if isinstance(trigger_spec, Frozen):
            rest["trigger_spec"] = trigger_spec
        elif checked:
            rest["trigger_spec"] = _placeholder(str(trigger_type))
        spec = RuleSpec.model_validate(rest, context=context)
    except ValidationError as exc:
        errors.extend(e for e in from_pydantic(exc) if not (checked and e.loc[:1] == ("trigger_spec",)))
        raise RuleValidationError(_dedupe(errors)) from None
    if errors:
        raise RuleValidationError(_dedupe(errors))
    return spec


def _placeholder(trigger_type: str) -> Frozen:
    placeholders: dict[str, Frozen] = {
        "metric": MetricTrigger(metric_name="x", operator=">", threshold=0),
        "event": EventTrigger(event_type="x"),
        "schedule": ScheduleTrigger(cron="* * * * *"),
        "anomaly": AnomalyTrigger(value_path="x", anomaly_method="zscore", threshold=3),
    }
    return placeholders[trigger_type]


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    out = []
    for err in errors:
        if (err.loc, err.msg) not in seen:
            seen.add((err.loc, err.msg))
            out.append(err)
    return out


def _from_client(info: ValidationInfo) -> bool:
    return isinstance(info.context, Mapping) and info.context.get("client_input") is True


def _field_error(field: str, msg: str) -> ValueError:
    # pydantic reports model-level ValueErrors at the model's location; prefix the field so the path is exact.
    return ValueError(f"[{field}] {msg}")


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
