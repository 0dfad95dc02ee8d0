"""Wire models of the anomaly routes: anomaly status, rule precision and backtest (bodies and answers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.domain.anomaly.backtest import MAX_SAMPLES, MAX_VARIANTS
from services.gateway.rest.times import UtcTime


class Baseline(BaseModel):
    """A group key's baseline: ready once it holds `required` (min_baseline) samples; its statistics."""

    model_config = ConfigDict(extra="allow")

    ready: bool
    samples: int
    required: int


class LastVerdict(BaseModel):
    """The latest sample's verdict: `is_anomaly` null while detection is disabled (`reason` says why)."""

    model_config = ConfigDict(extra="allow")

    value: Any = None
    score: float | None = None
    normalised_score: float | None = None
    is_anomaly: bool | None = None
    reason: str | None = None
    method: str | None = None
    at: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AnomalyKey(BaseModel):
    baseline: Baseline
    last: LastVerdict | None = None


class AnomalyStatus(BaseModel):
    """`GET /cep/rules/{rule_id}/anomaly-status`: per group key (`""` without group_by), baseline and last verdict.

    `detection` is `disabled` until every key's baseline is ready; `reason` says `learning: 12 of 30 samples`.
    An inactive anomaly rule learns its baselines too (it never fires while inactive).
    """

    rule_id: str
    method: str | None
    active: bool
    ready: bool
    detection: str
    reason: str
    keys: dict[str, AnomalyKey]


class RulePrecisionOut(BaseModel):
    """Measured precision: true positives / labelled events (`POST /cep/events/{id}/feedback`), null when none."""

    rule_id: str
    events: int
    labelled: int
    true_positive: int
    false_positive: int
    precision: float | None


class SeriesPoint(BaseModel):
    """One sample: `value` (put at the rule's value path) or a whole `payload`; `label` true marks a real anomaly.

    `timestamp` (RFC 3339 or epoch seconds/ms) is the sample's event time; without one, samples are a second apart.
    """

    model_config = ConfigDict(extra="forbid")

    timestamp: str | float | None = None
    value: float | None = Field(default=None, allow_inf_nan=False)
    payload: dict[str, Any] | None = None
    label: bool | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SeriesPoint:
        if (self.value is None) == (self.payload is None):
            raise ValueError("give either value or payload")
        return self


class BacktestVariant(BaseModel):
    """A parameter set: JSON merge patches over the base rule's `trigger_spec` (and `conditions`, if given)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    trigger_spec: dict[str, Any] = Field(default_factory=dict)
    conditions: dict[str, Any] | None = None


class BacktestBody(BaseModel):
    """`POST /cep/rules/backtest`: a draft rule (a create body), optional `variants`, and the data: a supplied
    `series`, or the tenant's stored events between `since` and `until` (default now)."""

    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any]
    variants: list[BacktestVariant] | None = Field(default=None, min_length=1, max_length=MAX_VARIANTS)
    series: list[SeriesPoint] | None = Field(default=None, min_length=1, max_length=MAX_SAMPLES)
    since: UtcTime | None = None
    until: UtcTime | None = None


class ScoreDistribution(BaseModel):
    model_config = ConfigDict(extra="allow")

    count: int
    infinite: int
    quantiles: dict[str, float | None]
    histogram: list[dict[str, float]]


class VariantReport(BaseModel):
    """One variant's outcome; `labels` (precision, recall, false_positive_ratio...) only when samples had labels."""

    model_config = ConfigDict(extra="allow")

    name: str
    summary: str
    scored: int
    learning: int
    errors: int
    anomalies: int
    firings: int
    scores: ScoreDistribution
    labels: dict[str, float | int | None] | None = None
    compared_with_first: dict[str, Any] | None = None


class BacktestReport(BaseModel):
    """Every variant over the same samples (`source`: `series` or `events`)."""

    model_config = ConfigDict(extra="allow")

    source: str
    samples: int
    labelled: int
    variants: list[VariantReport]
