"""Wire models of `/cep/notification-policies`: the policy document, its versions, and the route tester's body and
answer; plus the JSON views of stored rows and of a tester result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.db.tables import NotificationPolicyRow, NotificationPolicyVersionRow
from services.common.domain.routing.policy_tester import PolicyTest
from services.gateway.rest.times import UtcTime
from services.gateway.row_codec import rfc3339


class Receiver(BaseModel):
    """A receiver: one or more of the tenant's channels (ids or names); none is Alertmanager's null receiver."""

    name: str
    channels: list[str] = Field(default_factory=list)


class NamedTimeInterval(BaseModel):
    """Alertmanager's named time interval: `times`, `weekdays`, `days_of_month`, `months`, `years`, `location`."""

    name: str
    time_intervals: list[dict[str, Any]]


class PolicyBody(BaseModel):
    """The whole policy as `PUT` replaces it (Alertmanager's shape, without `inhibit_rules`)."""

    route: dict[str, Any] = Field(description="the root route: receiver, group_by, timings, routes (Alertmanager's)")
    receivers: list[Receiver] = Field(default_factory=list)
    time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    version: int | None = Field(default=None, ge=0, description="the version read (0: none); 409 when stale")


class Policy(PolicyBody):
    """The tenant's policy in force, with its version and who last changed it."""

    version: int | None = Field(default=None, description="this version")
    updated_at: str
    updated_by: str


class PolicyVersion(BaseModel):
    """One version: the document (null for a delete), the change, who made it and when."""

    version: int
    change: str
    at: str
    actor: dict[str, str]
    policy: dict[str, Any] | None


class PolicyVersionList(BaseModel):
    items: list[PolicyVersion]
    total: int
    next_cursor: str | None


class RouteTestBody(BaseModel):
    """A label set to route, against the stored policy or a draft, at an instant (default now)."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(description="the alert's labels (an empty value counts as absent)")
    policy: dict[str, Any] | None = Field(default=None, description="a draft policy document to test instead")
    at: UtcTime | None = Field(default=None, description="when the time intervals are judged (RFC 3339; default now)")


class MatchedRoute(BaseModel):
    """One matched route: where it is, its receiver and channels, grouping, timings and time intervals."""

    path: list[int] = Field(description="child indexes from the root ([] is the root)")
    receiver: str
    channels: list[str]
    group_by: list[str]
    group_labels: dict[str, str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    mute_time_intervals: list[str]
    active_time_intervals: list[str]
    muted_at: bool = Field(description="whether its time intervals mute it at `at`")
    muted_reason: str | None


class RouteTestResult(BaseModel):
    """The receivers in tree order, amtool's output line, and each matched route."""

    receivers: list[str]
    line: str = Field(description="the receivers as `amtool config routes test` prints them")
    routes: list[MatchedRoute]
    at: str
    version: int | None = Field(description="the stored policy's version, or null for a draft")


def policy_json(row: NotificationPolicyRow) -> dict[str, Any]:
    """The stored policy as `GET` returns it."""
    return {
        **row.document,
        "version": row.version,
        "updated_at": rfc3339(row.updated_at),
        "updated_by": row.updated_by,
    }


def version_json(row: NotificationPolicyVersionRow) -> dict[str, Any]:
    """One entry of `GET /cep/notification-policies/versions`."""
    return {
        "version": row.version,
        "change": row.change,
        "at": rfc3339(row.at),
        "actor": {"token_id": row.actor_token_id, "name": row.actor_name},
        "policy": row.document,
    }


def tester_json(result: PolicyTest) -> dict[str, Any]:
    """The tester's answer on the wire."""
    routes = [
        {
            "path": list(route.plan.path),
            "receiver": route.plan.receiver,
            "channels": list(route.channels),
            "group_by": list(route.plan.group_by),
            "group_labels": route.plan.group_labels,
            "group_wait": route.plan.group_wait,
            "group_interval": route.plan.group_interval,
            "repeat_interval": route.plan.repeat_interval,
            "mute_time_intervals": list(route.plan.mute_time_intervals),
            "active_time_intervals": list(route.plan.active_time_intervals),
            "muted_at": route.muted_at,
            "muted_reason": route.muted_reason,
        }
        for route in result.routes
    ]
    return {"receivers": list(result.receivers), "line": result.line, "routes": routes}
