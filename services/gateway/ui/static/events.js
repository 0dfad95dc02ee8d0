// /cep-events: the filtered event list, kept live over SSE, and the detail view (events-detail.js).
// The filters live in the URL (`/cep-events?status=open&since=...`), so the dashboard links here with its figures'
// queries; filters the form has no control for (notification_status, channel, acked, feedback, trigger_type) are
// shown as a line of their own and kept until cleared.
import { api, el, getToken, openStream, showProblem } from "./api.js";
import { EventDetail } from "./events-detail.js";
import { matches, deliverySummary } from "./events-match.js";
import { badge, fromLocalInput, labelChips, toLocalInput, utc } from "./format.js";
import { muteBadges } from "./mute-badges.js";

const $ = (id) => document.getElementById(id);
const FORM = { rule_id: "f-rule", severity: "f-severity", status: "f-status", since: "f-since", until: "f-until" };
const EXTRA = ["trigger_type", "acked", "feedback", "notification_status", "channel"];
const KINDS = ["fired", "updated", "acked", "resolved", "notification"];
const LIVE_TEXT = { connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", off: "Offline" };

const tbody = $("event-list").tBodies[0];
const rows = new Map(); // event_id -> the latest Event JSON shown in the list
const arrived = new Map(); // event_id -> when it arrived live (highlighted for FRESH_MS)
const FRESH_MS = 4000;
let filters = {};
let total = 0;
let cursor = null;
let stream = null;
let loadSeq = 0;
const detail = new EventDetail($("event-detail"), { onChanged: (event) => upsert(event, false) });

// ---- filters <-> URL and form ----

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const key of [...Object.keys(FORM), ...EXTRA]) if (params.get(key)) out[key] = params.get(key);
  return out;
}

function fillForm() {
  for (const [key, id] of Object.entries(FORM)) {
    const input = $(id);
    const value = filters[key] || "";
    if (key === "rule_id" && value && ![...input.options].some((o) => o.value === value)) {
      input.append(el("option", { value, text: value }));
    }
    if (input.type === "datetime-local") {
      input.value = toLocalInput(value);
      input.dataset.raw = value; // kept exactly (µs included) unless the user edits the field
    } else {
      input.value = value;
    }
  }
  const extra = EXTRA.filter((key) => filters[key]);
  $("extra-filters").hidden = extra.length === 0;
  $("extra-filters").replaceChildren(
    "Also filtered by: ",
    el("span", { class: "mono", text: extra.map((key) => `${key} = ${filters[key]}`).join(", ") }),
    " ",
    el("button", { type: "button", class: "link", text: "Remove these filters", onclick: () => apply(formFilters()) }),
  );
}

function formFilters() {
  const out = {};
  for (const [key, id] of Object.entries(FORM)) {
    const input = $(id);
    let value = input.value;
    if (input.type === "datetime-local") value = input.dataset.raw && toLocalInput(input.dataset.raw) === value ? input.dataset.raw : fromLocalInput(value);
    if (value) out[key] = value;
  }
  return out;
}

function apply(next) {
  filters = next;
  const params = new URLSearchParams(filters);
  const selected = detail.currentId();
  if (selected) params.set("event", selected);
  const query = params.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
  fillForm();
  loadList();
}

// ---- the list ----

function row(event) {
  const selected = detail.currentId() === event.event_id;
  return el("tr", { "data-id": event.event_id, "aria-selected": selected ? "true" : "false" },
    el("td", { class: "mono col-fired", text: utc(event.fired_at) }),
    el("td", { class: "col-rule" }, el("button", { type: "button", class: "link", text: event.rule_name,
      onclick: () => select(event.event_id), "aria-label": `Open event of ${event.rule_name} fired ${utc(event.fired_at)}` })),
    el("td", {}, badge(event.severity)),
    el("td", { class: "col-status" }, badge(event.status), ...muteBadges(event)),
    el("td", { class: "col-summary", title: event.summary }, // cut to one line: the tooltip has it all
      el("span", { text: event.summary }), " ", labelChips(event.labels, { all: false })),
    el("td", { class: "num", text: String(event.count) }),
    el("td", { class: "delivery", text: deliverySummary(event) }));
}

function render() {
  const events = [...rows.values()].sort((a, b) => (b.fired_at + b.event_id).localeCompare(a.fired_at + a.event_id));
  tbody.replaceChildren(...events.map((event) => {
    const tr = row(event);
    const since = Date.now() - (arrived.get(event.event_id) || 0);
    if (since < FRESH_MS) {
      tr.classList.add("fresh");
      tr.style.setProperty("--fresh-elapsed", `-${since}ms`); // a re-render continues the highlight, not restarts it
    }
    return tr;
  }));
  $("event-count").textContent = `${total} event${total === 1 ? "" : "s"}`;
  $("more").hidden = !cursor;
}

/** Show a changed event: add it (flagged fresh) if it now matches the filters, drop it if it no longer does. */
function upsert(event, live = true) {
  const known = rows.has(event.event_id);
  if (matches(event, filters)) {
    if (live && !known) arrived.set(event.event_id, Date.now());
    rows.set(event.event_id, event);
    if (!known) total += 1;
    render();
  } else if (known) {
    rows.delete(event.event_id);
    total = Math.max(0, total - 1);
    render();
  }
}

async function loadList(more = false) {
  const seq = ++loadSeq;
  if (!getToken()) {
    rows.clear();
    total = 0;
    cursor = null;
    render();
    $("event-count").textContent = "Enter an API token above to see the tenant's events.";
    return;
  }
  const params = new URLSearchParams({ ...filters, limit: "50" });
  if (more && cursor) params.set("cursor", cursor);
  try {
    const page = await api(`/cep/events?${params}`);
    if (seq !== loadSeq) return; // a newer load started meanwhile
    if (!more) rows.clear();
    for (const event of page.items) if (!rows.has(event.event_id)) rows.set(event.event_id, event);
    total = page.total;
    cursor = page.next_cursor;
    render();
  } catch (err) {
    showProblem(err);
  }
}

async function loadRules() {
  if (!getToken()) return;
  try {
    const page = await api("/cep/rules?limit=1000");
    const select = $("f-rule");
    const chosen = filters.rule_id || "";
    select.replaceChildren(el("option", { value: "", text: "any" }),
      ...page.items.map((rule) => el("option", { value: rule.rule_id, text: rule.name })));
    if (chosen && ![...select.options].some((o) => o.value === chosen)) select.append(el("option", { value: chosen, text: chosen }));
    select.value = chosen;
  } catch (err) {
    showProblem(err);
  }
}

function select(id) {
  for (const tr of tbody.rows) tr.setAttribute("aria-selected", tr.dataset.id === id ? "true" : "false");
  const params = new URLSearchParams(location.search);
  params.set("event", id);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  detail.open(id);
}

// ---- live updates ----

function setLive(state) {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = LIVE_TEXT[state] || state;
}

function connect() {
  if (stream) stream.close();
  stream = null;
  if (!getToken()) {
    setLive("off");
    return;
  }
  stream = openStream("/cep/events/stream", {
    kinds: KINDS,
    onState: setLive,
    onMessage: (_kind, event) => {
      upsert(event);
      detail.update(event);
    },
  });
}

// ---- start ----

$("event-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  apply({ ...formFilters(), ...Object.fromEntries(EXTRA.filter((k) => filters[k]).map((k) => [k, filters[k]])) });
});
for (const id of ["f-since", "f-until"]) $(id).addEventListener("input", () => { $(id).dataset.raw = ""; });
$("f-clear").addEventListener("click", () => apply({}));
$("more").addEventListener("click", () => loadList(true));
window.addEventListener("cep:token", () => {
  connect();
  loadRules();
  loadList();
});

filters = filtersFromUrl();
fillForm();
connect(); // before the first load, so nothing fired in between is missed
loadRules();
loadList();
const opened = new URLSearchParams(location.search).get("event");
if (opened && getToken()) detail.open(opened);
