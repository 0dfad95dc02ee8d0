"""The annotations of events that fire, rendered by the recorder before it records them.

The templates are those of the rule version that produced the event (its `rule_versions` row); they render in the
template pool (services/common/template_pool.py) under the template budgets, against the Event JSON as it stands
when it fires. A failed render stores its error text (notify/annotations.py); a database error leaves the events
without annotations rather than holding them back. The renders of one batch of alerts share a time limit
(`CEP_ANNOTATION_RENDER_SECONDS`, default RENDER_SECONDS), so annotations never hold the events back for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from services.common.db.sql_engine import Database
from services.common.domain.notify.annotations import render_annotations
from services.common.template_pool import off_loop
from services.gateway import row_codec
from services.gateway.recorders import event_record
from services.gateway.store import rules as rule_store
from services.gateway.store.events import Alert

log = logging.getLogger(__name__)
RENDER_SECONDS = 2.0  # all renders of one batch of alerts together (each one also has its own 1 s budget)

Job = tuple[str, Mapping[str, str], dict[str, Any], Mapping[str, Any]]  # event id, templates, event, rule


async def rendered(db: Database, alerts: Sequence[Alert], seconds: float = RENDER_SECONDS) -> dict[str, dict[str, str]]:
    """The rendered annotations of each event that fires in `alerts`, by event id (none for a rule without any)."""
    fired = [alert for alert in alerts if alert.transition.kind == "fired"]
    if not fired:
        return {}
    keys = {(a.transition.tenant, a.transition.rule_id, a.transition.rule_version) for a in fired}
    try:
        async with db.read() as session:
            rules = await rule_store.versions_by_key(session, keys)
    except Exception as exc:  # the events matter more than their annotations
        log.warning("annotations not rendered: the rule versions could not be read (%s)", exc)
        return {}
    jobs: list[Job] = []
    for alert in fired:
        t = alert.transition
        rule = rules.get((t.tenant, t.rule_id, t.rule_version)) or {}
        templates = rule.get("annotations") or {}
        if templates:
            event = row_codec.event_json(event_record.open_event(t, alert.actions))
            jobs.append((t.event_id, templates, event, rule))
    return await off_loop(render_jobs, jobs, seconds) if jobs else {}


def render_jobs(jobs: Sequence[Job], seconds: float) -> dict[str, dict[str, str]]:
    """Render every job's annotations; past `seconds` from the start, the rest are marked not rendered."""
    deadline = time.monotonic() + seconds

    def out_of_time() -> bool:
        return time.monotonic() > deadline

    return {
        event_id: render_annotations(templates, event, rule, out_of_time) for event_id, templates, event, rule in jobs
    }
