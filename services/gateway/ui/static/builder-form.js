// The rule form of /cep-builder: trigger fields per type, actions rows, and form <-> rule conversions.
// The form body it builds is the contract's (POST /cep/rules/preview and /form); values stay strings where the
// server coerces them ("85" -> 85), so what the user typed is what the server judges.
import { el } from "./api.js";
import { PatternEditor } from "./builder-pattern.js";

const OPERATORS = [">", ">=", "<", "<=", "==", "!="];

// Each trigger type's fields: [key, label, kind (text | number | select options), hint].
export const TRIGGER_FIELDS = {
  metric: [
    ["metric_name", "Metric name", "text", "a payload path, e.g. cpu_usage"],
    ["operator", "Operator", OPERATORS],
    ["threshold", "Threshold", "number"],
    ["duration", "Duration (for)", "text", "held this long before firing, e.g. 5m"],
    ["aggregation", "Aggregation", ["", "avg", "sum", "min", "max", "count", "p95", "rate"]],
    ["window", "Window", "text", "with an aggregation, e.g. 5m"],
    ["group_by", "Group by", "text", "comma-separated paths, e.g. host"],
    ["resolve_after", "Resolve after", "text", "no samples this long resolves"],
    ["no_data_after", "No data after", "text"],
  ],
  event: [
    ["event_type", "Event type", "text", "e.g. error"],
    ["group_by", "Group by", "text", "comma-separated paths"],
    ["resolve_after", "Resolve after", "text", "default 5m"],
  ],
  schedule: [
    ["cron", "Cron", "text", "5 fields, e.g. */5 * * * *"],
    ["timezone", "Time zone", "text", "default UTC"],
    ["misfire", "On a missed run", ["", "catch_up", "skip"]],
  ],
  anomaly: [
    ["value_path", "Value path", "text", "e.g. cpu_percent"],
    ["anomaly_method", "Method", ["zscore", "iqr", "ema"]],
    ["threshold", "Threshold", "number", "score above which it is an anomaly"],
    ["min_baseline", "Minimum baseline", "number", "samples before detection"],
    ["iqr_multiplier", "IQR multiplier", "number"],
    ["ema_alpha", "EMA alpha", "number"],
    ["group_by", "Group by", "text", "comma-separated paths"],
  ],
};

const ACTION_TYPES = ["notify", "webhook", "api_call", "slack", "email", "pagerduty"];
const BASIC = ["name", "description", "owner", "backup_owner", "priority", "severity"];
const HANDOVER = ["purpose", "deactivation_criterion", "runbook", "rollback"];

function control(id, kind, value) {
  if (Array.isArray(kind)) {
    const select = el("select", { id });
    for (const option of kind) select.append(el("option", { value: option, text: option || "(none)" }));
    select.value = value ?? kind[0];
    return select;
  }
  const input = el("input", { id, type: "text", inputmode: kind === "number" ? "decimal" : undefined });
  input.value = value ?? "";
  return input;
}

// Trigger fields the form has no input for (set over the API, e.g. recover_threshold): kept as they are.
let triggerExtras = {};
// A pattern trigger has its own editor: steps as rows (builder-pattern.js).
export const pattern = new PatternEditor();

/** Render the trigger fields of `type` into `box`, filled from `values` (a trigger_spec or the last inputs). */
export function renderTrigger(box, type, values = {}) {
  if (type === "pattern") return pattern.render(box, values);
  box.replaceChildren();
  const known = new Set(TRIGGER_FIELDS[type].map(([key]) => key));
  triggerExtras = Object.fromEntries(Object.entries(values).filter(([key]) => !known.has(key)));
  for (const [key, label, kind, hint] of TRIGGER_FIELDS[type]) {
    const id = `t-${key}`;
    let value = values[key];
    if (Array.isArray(value)) value = value.join(", ");
    box.append(
      el("div", { class: "field" },
        el("label", { for: id, text: label }),
        control(id, kind, value === undefined || value === null ? undefined : String(value)),
        hint ? el("span", { class: "hint", text: hint }) : null),
    );
  }
}

/** The trigger inputs as the form's `trigger` object (strings; blank ones left for the server to drop). */
export function readTrigger(type) {
  if (type === "pattern") return pattern.read();
  const trigger = { ...triggerExtras };
  for (const [key] of TRIGGER_FIELDS[type]) trigger[key] = document.getElementById(`t-${key}`).value;
  return trigger;
}

/** Actions editor: rows of type, channel (picker from the tenant's channels, or typed), message. */
export class ActionsEditor {
  constructor(box, channels) {
    this.box = box;
    this.channels = channels;
    this.rows = [];
    this.counter = 0;
    this.onchange = () => {};
  }

  setChannels(channels) {
    this.channels = channels;
    const list = document.getElementById("channel-names") || document.body.appendChild(el("datalist", { id: "channel-names" }));
    list.replaceChildren(...channels.map((c) => el("option", { value: c.name, text: `${c.name} (${c.type})` })));
  }

  set(actions) {
    this.box.replaceChildren();
    this.rows = [];
    this.counter = 0;
    for (const action of actions) this.add(action);
  }

  add(action = { type: "notify", channel: "", message: "" }) {
    const n = ++this.counter;
    const type = control(`a${n}-type`, ACTION_TYPES, action.type);
    const channel = el("input", { id: `a${n}-channel`, list: "channel-names", placeholder: "a channel name or id" });
    channel.value = action.channel || "";
    const message = el("input", { id: `a${n}-message`, placeholder: "a template, e.g. CPU {{ payload.cpu_usage }}" });
    message.value = action.message || "";
    const extra = { ...action };
    for (const key of ["type", "channel", "message"]) delete extra[key];
    const row = { type, channel, message, extra };
    const remove = el("button", { type: "button", class: "secondary small", text: "Remove", "aria-label": `Remove action ${n}` });
    const line = el("div", { class: "fields" },
      el("div", { class: "field" }, el("label", { for: type.id, text: `Action ${n} type` }), type),
      el("div", { class: "field" }, el("label", { for: channel.id, text: `Action ${n} channel` }), channel),
      el("div", { class: "field" }, el("label", { for: message.id, text: `Action ${n} message` }), message),
      el("div", { class: "field" }, el("span", { class: "label", text: "\u00a0" }), remove));
    remove.addEventListener("click", () => {
      this.rows = this.rows.filter((r) => r !== row);
      line.remove();
      document.getElementById("add-action").focus(); // the focus never falls back to the page's top
      this.onchange();
    });
    this.rows.push(row);
    this.box.append(line);
    return row;
  }

  read() {
    return this.rows.map((r) => ({ ...r.extra, type: r.type.value, channel: r.channel.value, message: r.message.value }));
  }
}

// The rule's suppression object (set over the API; the form shows it in the JSON preview and keeps it).
let suppression = null;

/** Fill the basic, trigger and handover inputs from a rule (canonical JSON). */
export function fillBasics(rule) {
  suppression = rule.suppression ?? null;
  for (const key of [...BASIC, ...HANDOVER]) document.getElementById(`f-${key}`).value = rule[key] ?? "";
  document.getElementById("f-trigger_type").value = rule.trigger_type;
  document.getElementById("f-active").checked = Boolean(rule.active);
}

/** The form body (the contract's shape) from the inputs, the condition and actions editors, and the `named`
 * editors (`{labels, annotations}`: builder-labels.js). */
export function readForm(conditions, actions, named = {}) {
  const form = {};
  for (const key of [...BASIC, ...HANDOVER]) form[key] = document.getElementById(`f-${key}`).value;
  form.active = document.getElementById("f-active").checked;
  form.trigger_type = document.getElementById("f-trigger_type").value;
  form.trigger = readTrigger(form.trigger_type);
  const tree = conditions.read();
  form.logic = tree.logic;
  form.conditions = tree.conditions;
  form.actions = actions.read();
  for (const [key, editor] of Object.entries(named)) form[key] = editor.read();
  if (suppression) form.suppression = suppression;
  return form;
}

/** A fresh rule for "New rule": the Lab 1 shape without values. */
export function blankRule() {
  return {
    name: "", description: "", priority: "P3", severity: "medium", active: false, trigger_type: "metric",
    trigger_spec: { operator: ">" }, conditions: null, action_spec: [],
  };
}
