"""The anomaly methods behind one interface: a registry from method name to a model that scores and learns.

Every model is streaming and bounded: `score(value, threshold)` (raw score comparable to the rule's threshold,
and details), `learn(at, value)`, `baseline()` statistics, `ready`, `baseline_size()`, and a JSON `snapshot()`
that `restore()` turns back into a model giving identical scores. `Detector` in anomaly/scoring.py wraps a model with
the rule's threshold and `min_baseline` and is what the evaluator, the backtest and NAB run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from services.common.domain.anomaly.detectors.classic import Classic
from services.common.domain.anomaly.detectors.contextual import Contextual
from services.common.domain.anomaly.detectors.multiscale import MultiScale
from services.common.domain.anomaly.detectors.refit import INLINE, RefitExecutor


class Model(Protocol):
    """One method's state for one series."""

    @property
    def ready(self) -> bool: ...

    def baseline_size(self) -> int: ...

    def score(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]: ...

    def learn(self, at: float, value: float) -> None: ...

    def baseline(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ModelConfig:
    """What a model is built from: the rule's baseline settings and the method's own parameters."""

    method: str
    min_baseline: int
    window_seconds: float | None
    options: dict[str, Any]
    executor: RefitExecutor


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its parameters (names of AnomalyTrigger fields) and how to build its model."""

    name: str
    parameters: tuple[str, ...]
    build: Callable[[ModelConfig], Model]


def _classic(config: ModelConfig) -> Model:
    return Classic(config.method, config.min_baseline, window_seconds=config.window_seconds, **config.options)


def _multiscale(config: ModelConfig) -> Model:
    return MultiScale(config.min_baseline, **config.options)


def _contextual(config: ModelConfig) -> Model:
    return Contextual(config.min_baseline, **config.options)


def _pyod(config: ModelConfig) -> Model:
    from services.common.domain.anomaly.detectors.pyod_window import PyodWindow  # numpy and pyod load on first use

    return PyodWindow(config.method, config.min_baseline, executor=config.executor, **config.options)


PYOD_PARAMETERS = ("training_window", "refit_every", "refit_lag")
MULTISCALE_PARAMETERS = ("baseline_span", "record_span", "rest_span", "season_seconds")
METHODS: dict[str, MethodInfo] = {
    info.name: info
    for info in (
        MethodInfo("zscore", (), _classic),
        MethodInfo("iqr", ("iqr_multiplier",), _classic),
        MethodInfo("ema", ("ema_alpha",), _classic),
        MethodInfo("multiscale", MULTISCALE_PARAMETERS, _multiscale),
        MethodInfo("contextual", MULTISCALE_PARAMETERS, _contextual),
        MethodInfo("hbos", PYOD_PARAMETERS, _pyod),
    )
}
ANOMALY_PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(p for info in METHODS.values() for p in info.parameters))


def build_model(
    method: str,
    min_baseline: int,
    *,
    window_seconds: float | None = None,
    executor: RefitExecutor | None = None,
    **options: Any,
) -> Model:
    """The model of `method`; options that are None, or another method's, are left out."""
    info = METHODS.get(method)
    if info is None:
        raise ValueError(f"unknown anomaly method {method!r}: use one of {', '.join(METHODS)}")
    known = {name for other in METHODS.values() for name in other.parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown anomaly parameters: {', '.join(unknown)}")
    # a trigger carries every method's fields: the ones of other methods are not this model's business
    given = {name: value for name, value in options.items() if value is not None and name in info.parameters}
    return info.build(ModelConfig(method, min_baseline, window_seconds, given, executor or INLINE))
