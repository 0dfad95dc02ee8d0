// Display helpers shared by the events, channels and dashboard pages: UTC times, durations, state badges.
import { el } from "./api.js";

/** "2025-03-01 12:00:05" (UTC) for an RFC 3339 time; "" for null. */
export function utc(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toISOString().slice(0, 19).replace("T", " ");
}

/** The value of a `datetime-local` input (read as UTC) for an RFC 3339 time, and back. */
export function toLocalInput(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 19) : "";
}
export function fromLocalInput(value) {
  return value ? new Date(`${value.length === 16 ? `${value}:00` : value}Z`).toISOString().replace(".000Z", "Z") : "";
}

/** "1 h 5 min", "42 s" for a number of seconds; "" for null. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** "37.5 %" for a ratio in [0, 1]; "n/a" for null. */
export function percent(ratio) {
  return ratio === null || ratio === undefined ? "n/a" : `${(ratio * 100).toFixed(1).replace(/\.0$/, "")} %`;
}

const GOOD = new Set(["sent", "resolved", "ok", "true_positive"]);
const BAD = new Set(["failed", "open", "critical", "high", "false_positive"]);

/** A `.badge` for a state word (event status, delivery status, severity): green for good, red for bad. */
export function badge(word, extra = "") {
  const tone = GOOD.has(word) ? "badge-ok" : BAD.has(word) ? "badge-bad" : "";
  return el("span", { class: `badge ${tone} ${extra}`.trim(), text: word });
}

// Labels every event has, shown elsewhere in a row (the severity badge, the rule's name).
const ROW_LABELS = new Set(["alertname", "severity", "priority"]);

/** An event's labels as chips (`name=value`); `all` false leaves out the ones a list row already shows. */
export function labelChips(labels, { all = true } = {}) {
  const pairs = Object.entries(labels || {}).filter(([name]) => all || !ROW_LABELS.has(name));
  return el("ul", { class: "chips", "aria-label": "Labels" },
    ...pairs.map(([name, value]) => el("li", { class: "badge chip", text: `${name}=${value}` })));
}
