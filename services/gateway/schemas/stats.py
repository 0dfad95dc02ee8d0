"""Wire models of the stats routes (`/cep/stats/daily`, `/cep/stats/weekly`): figures that name their events."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Figure(BaseModel):
    """A figure and the events behind it: `query` holds the `GET /cep/events` filters listing them, `href` the URL."""

    value: int | float | None = Field(description="the figure (a count, a ratio, or seconds); null: nothing to measure")
    events: int = Field(description="how many events `query` lists (the `total` of that list)")
    query: dict[str, str]
    href: str


class DayFigures(BaseModel):
    """One UTC day of the range: events fired, and failed notifications of those events."""

    day: str = Field(description="YYYY-MM-DD (UTC)")
    events: Figure
    failed_notifications: Figure = Field(description="value: failed notification entries; events: events with one")


class Backlog(Figure):
    """Open events nobody acknowledged yet (fired at or before `until`), and how old the oldest one is."""

    oldest_fired_at: str | None


class SchedulerHealth(BaseModel):
    """The scheduler over the range: runs by scheduled time (from schedule_runs) and its live leader and replicas."""

    healthy: bool
    reasons: list[str] = Field(description="why it is not healthy: no leader, missed or late runs")
    leader: str | None
    instances: int | None = Field(description="live replicas; null when the live state could not be read")
    runs: int
    missed_runs: int
    late_runs: int
    delay_p99_ms: float | None
    schedule_events: Figure = Field(description="events of schedule rules fired in the range")
    runs_href: str = Field(description="`GET /cep/scheduler/runs` over the range")
    missed_href: str


class RulePrecision(Figure):
    """A rule's precision (value): true positives / labelled events; `events`: its labelled events."""

    rule_id: str
    rule_name: str
    true_positive: int
    false_positive: int


class Precision(Figure):
    """Precision of anomaly rules over their labelled events (feedback), overall (value) and per rule."""

    true_positive: int
    false_positive: int
    rules: list[RulePrecision]


class DailyStats(BaseModel):
    """`GET /cep/stats/daily`: per-day series and the day-to-day figures of the range."""

    since: str
    until: str
    days: list[DayFigures]
    events: Figure
    ack_backlog: Backlog
    failed_notifications: Figure
    scheduler: SchedulerHealth
    anomaly_precision: Precision


class RuleFigure(Figure):
    """A rule's figure (a count of its events)."""

    rule_id: str
    rule_name: str


class ChannelFigure(Figure):
    """A channel's failure rate (value: failed / (sent + failed)); `events`: events with a failed delivery to it."""

    channel: str = Field(description="the channel id, or the name an action used when no channel was resolved")
    channel_id: str | None
    name: str
    sent: int
    failed: int


class WeeklyStats(BaseModel):
    """`GET /cep/stats/weekly`: the review figures of the range."""

    since: str
    until: str
    top_rules_by_firings: list[RuleFigure]
    top_rules_by_false_positives: list[RuleFigure]
    channel_failure_rates: list[ChannelFigure]
    mean_time_to_acknowledge: Figure = Field(description="seconds from fired to acked, over acked events")
    mean_time_to_recover: Figure = Field(description="seconds from fired to resolved, over resolved events")
