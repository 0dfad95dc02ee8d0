// "Silence this" on an event: a link to the Silences page's form with the event's alertname and group labels as
// matchers, so the open event is silenced in two clicks (the link, then "Create silence").
import { el } from "./api.js";

// What a group-by path becomes as a label name (services/common/domain/labels/event_labels.py: label_name).
function labelName(path) {
  const name = path.replace(/[^a-zA-Z0-9_]/g, "_") || "_";
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** The labels that single out the event's series: `alertname` and the labels of its group key. */
export function silenceMatchers(event) {
  const labels = event.labels || {};
  const names = ["alertname"];
  for (const part of (event.group_key || "").split(",")) {
    const at = part.indexOf("=");
    if (at > 0) names.push(labelName(part.slice(0, at)));
  }
  return [...new Set(names)].filter((name) => labels[name] !== undefined).map((name) => [name, labels[name]]);
}

/** The `/cep-silences?...` address that opens the form prefilled for this event. */
export function silenceHref(event) {
  const params = new URLSearchParams();
  for (const [name, value] of silenceMatchers(event)) params.append("matcher", `${name}=${value}`);
  if (!params.has("matcher")) params.append("matcher", `alertname=${event.rule_name}`);
  params.set("event", event.event_id);
  params.set("rule", event.rule_name);
  return `/cep-silences?${params}`;
}

/** The "Silence this" link of an event's detail. */
export function silenceLink(event) {
  return el("a", { class: "button", id: "silence-this", href: silenceHref(event), text: "Silence this" });
}
