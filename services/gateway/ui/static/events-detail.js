// The detail view of /cep-events: what fired and why (the explanation's truth table), the payload, every
// notification with its attempts, the history, and the operator's actions: ACK with a note, precision feedback.
import { api, el, showProblem } from "./api.js";
import { rows as truthRows } from "./builder-simulate.js";
import { badge, labelChips, utc } from "./format.js";
import { muteBadges } from "./mute-badges.js";
import { silenceLink } from "./silence-link.js";

function facts(event) {
  const items = [
    ["Rule", `${event.rule_name} (${event.rule_id}, v${event.rule_version})`],
    ["Trigger", event.trigger_type],
    ["Priority", event.priority],
    ["Fired", utc(event.fired_at)],
    ["Last seen", utc(event.last_seen)],
    ["Resolved", utc(event.resolved_at) || "not yet"],
    ["Count", String(event.count)],
    ["Group key", event.group_key || "(one series)"],
    ["Acknowledged", event.acked_at ? `by ${event.acked_by} at ${utc(event.acked_at)}` : "no"],
    ["Feedback", event.feedback ? `${event.feedback.label} by ${event.feedback.by}${event.feedback.note ? `: ${event.feedback.note}` : ""}` : "none"],
  ];
  return el("dl", { class: "facts" }, items.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
}

/** The rule's annotations as rendered when the event fired (nothing when the rule has none). */
function annotations(event) {
  const pairs = Object.entries(event.annotations || {});
  if (!pairs.length) return [];
  return [el("h3", { text: "Annotations" }),
    el("dl", { class: "facts" }, pairs.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]))];
}

function notifications(event) {
  const entries = event.notifications || [];
  if (!entries.length) return el("p", { class: "muted", text: "No notifications (the rule has no actions, or none are due)." });
  const body = [];
  for (const entry of entries) {
    body.push(el("tr", {},
      el("td", { text: entry.channel }),
      el("td", { text: entry.type }),
      el("td", { text: entry.transition || "fired" }),
      el("td", {}, badge(entry.status)),
      el("td", { class: "num", text: String(entry.attempts) }),
      el("td", { text: [entry.last_error, entry.reason].filter(Boolean).join(" · ") })));
    for (const line of entry.attempt_log || []) {
      body.push(el("tr", { class: "attempt" },
        el("td", { colspan: "3", class: "muted", text: `attempt ${line.n} · ${utc(line.at)}` }),
        el("td", {}, badge(line.status)),
        el("td", { class: "num muted", text: line.latency_ms === null || line.latency_ms === undefined ? "" : `${Math.round(line.latency_ms)} ms` }),
        el("td", { class: "muted", text: line.error || "" })));
    }
  }
  return el("table", { class: "data", id: "notification-table" },
    el("thead", {}, el("tr", {}, ["Channel", "Type", "For", "Status", "Attempts", "Error / reason"].map((h) => el("th", { text: h })))),
    el("tbody", {}, body));
}

function history(event) {
  return el("table", { class: "data", id: "history-table" },
    el("thead", {}, el("tr", {}, ["At (UTC)", "Status", "By", "Note"].map((h) => el("th", { text: h })))),
    el("tbody", {}, (event.history || []).map((entry) => el("tr", {},
      el("td", { class: "mono", text: utc(entry.at) }),
      el("td", {}, badge(entry.status)),
      el("td", { text: entry.actor }),
      el("td", { text: entry.note || "" })))));
}

function explanation(event) {
  const nodes = event.explanation || [];
  if (!nodes.length) return el("p", { class: "muted", text: "No explanation recorded." });
  return el("table", { class: "data truth", id: "explanation-table" },
    el("thead", {}, el("tr", {}, ["Condition", "Result", "Observed value", "Path"].map((h) => el("th", { text: h })))),
    el("tbody", {}, truthRows(nodes, 0, [])));
}

/** The detail panel: `open(id)` loads an event, `update(event)` shows a newer copy of the open one (from SSE). */
export class EventDetail {
  constructor(panel, { onChanged }) {
    this.panel = panel;
    this.body = panel.querySelector("#detail-body");
    this.empty = panel.querySelector("#detail-empty");
    this.heading = panel.querySelector("#detail-heading");
    this.onChanged = onChanged;
    this.event = null;
    this.loading = null;
  }

  currentId() {
    return this.event ? this.event.event_id : this.loading || null;
  }

  async open(id) {
    this.loading = id;
    try {
      const event = await api(`/cep/events/${encodeURIComponent(id)}`);
      if (this.loading === id) this.show(event);
    } catch (err) {
      showProblem(err);
    }
  }

  update(event) {
    if (this.event && this.event.event_id === event.event_id) this.show(event);
  }

  show(event) {
    const note = this.body.querySelector("#ack-note");
    const keep = note ? note.value : ""; // a note being typed survives a live update
    this.event = event;
    this.heading.textContent = `Event: ${event.rule_name}`;
    this.empty.hidden = true;
    this.body.hidden = false;
    const problem = el("div", { class: "problem", role: "alert", hidden: true });
    this.body.replaceChildren(
      el("div", { class: "toolbar" }, badge(event.status, "big"), badge(event.severity), ...muteBadges(event),
        el("span", { class: "mono muted", text: event.event_id }), el("span", { class: "spacer" }),
        event.status === "resolved" ? null : silenceLink(event)),
      el("p", { class: "summary", text: event.summary }),
      problem,
      this.actions(event, problem, keep),
      facts(event),
      el("h3", { text: "Labels" }), labelChips(event.labels),
      ...annotations(event),
      el("h3", { text: "Explanation" }), explanation(event),
      el("h3", { text: "Payload" }), el("pre", { class: "json", text: JSON.stringify(event.payload, null, 2) }),
      el("h3", { text: "Notifications" }), notifications(event),
      el("h3", { text: "History" }), history(event));
    this.body.querySelector("#ack-note").value = keep;
  }

  actions(event, problem, keep) {
    const acked = Boolean(event.acked_at);
    const post = async (path, body) => {
      try {
        const changed = await api(`/cep/events/${encodeURIComponent(event.event_id)}/${path}`, { method: "POST", body });
        this.show(changed);
        this.onChanged(changed);
      } catch (err) {
        showProblem(err, problem);
      }
    };
    const ack = el("form", { class: "row", id: "ack-form", onsubmit: (e) => {
      e.preventDefault();
      post("ack", { note: this.body.querySelector("#ack-note").value.trim() || null });
    } },
      el("label", { for: "ack-note", text: "ACK note" }),
      el("input", { id: "ack-note", value: keep, placeholder: acked ? "already acknowledged" : "what you are doing about it", disabled: acked }),
      el("button", { type: "submit", disabled: acked, text: acked ? "Acknowledged" : "Acknowledge" }));
    const feedback = el("div", { class: "row", role: "group", "aria-label": "Feedback" },
      el("label", { for: "feedback-note", text: "Feedback comment" }),
      el("input", { id: "feedback-note", placeholder: "optional" }),
      el("button", { type: "button", class: "secondary", text: "True positive",
        onclick: () => post("feedback", { label: "true_positive", note: this.body.querySelector("#feedback-note").value.trim() || null }) }),
      el("button", { type: "button", class: "secondary", text: "False positive",
        onclick: () => post("feedback", { label: "false_positive", note: this.body.querySelector("#feedback-note").value.trim() || null }) }));
    return el("div", { class: "event-actions" }, ack, feedback);
  }
}
