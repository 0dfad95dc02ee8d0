// The filters of GET /cep/events applied in the browser, to events arriving live over SSE (same meaning as the
// server's: services/gateway/store/event_filters.py), and a one-line summary of an event's deliveries.

function notificationMatches(entry, filters) {
  if (filters.notification_status && entry.status !== filters.notification_status) return false;
  if (filters.channel && entry.channel_id !== filters.channel && entry.channel !== filters.channel) return false;
  return true;
}

/** Whether an Event passes the list filters (API parameter names, string values). */
export function matches(event, filters) {
  for (const key of ["rule_id", "severity", "status", "trigger_type"]) {
    if (filters[key] && event[key] !== filters[key]) return false;
  }
  const fired = Date.parse(event.fired_at);
  if (filters.since && fired < Date.parse(filters.since)) return false;
  if (filters.until && fired > Date.parse(filters.until)) return false;
  if (filters.acked && (filters.acked === "true") !== Boolean(event.acked_at)) return false;
  if (filters.feedback) {
    const label = event.feedback ? event.feedback.label : null;
    if (filters.feedback === "any" ? !label : filters.feedback === "none" ? label : label !== filters.feedback) return false;
  }
  if (filters.notification_status || filters.channel) {
    return (event.notifications || []).some((entry) => notificationMatches(entry, filters));
  }
  return true;
}

/** "sent 2 · failed 1" from the statuses of an event's notifications ("none" without any). */
export function deliverySummary(event) {
  const counts = {};
  for (const entry of event.notifications || []) counts[entry.status] = (counts[entry.status] || 0) + 1;
  const parts = Object.entries(counts).map(([status, n]) => `${status} ${n}`);
  return parts.length ? parts.join(" · ") : "none";
}
