// The simulate panel of /cep-builder: the match result, the per-condition truth table with observed values,
// and the actions that would run (nothing is sent).
import { el } from "./api.js";

function resultText(result) {
  if (result === true) return ["true", "t-true"];
  if (result === false) return ["false", "t-false"];
  return ["unknown", "t-unknown"];
}

export function rows(nodes, depth, out) {
  for (const node of nodes) {
    const [text, cls] = resultText(node.result);
    const label = node.logic ? node.logic : node.expr;
    out.push(el("tr", {},
      el("td", { class: "mono", style: `padding-left: ${0.4 + depth * 1.2}rem`, text: label }),
      el("td", { class: `result ${cls}`, text }),
      el("td", { class: "mono", text: node.logic ? "" : JSON.stringify(node.value ?? null) }),
      el("td", { class: "muted mono", text: node.path || "" })));
    if (node.conditions) rows(node.conditions, depth + 1, out);
  }
  return out;
}

/** Render a simulate answer (POST /cep/rules/simulate or /cep/rules/{id}/simulate) into `box`. */
export function renderSimulation(box, result) {
  const matched = result.matched === true;
  const parts = [
    el("p", { class: `match ${matched ? "t-true" : "t-false"}`, id: "sim-match", text: `match = ${matched}` }),
    result.state ? el("p", { class: "muted", text: `state: ${result.state}${result.summary ? ` · ${result.summary}` : ""}` }) : null,
  ];
  if (result.errors && result.errors.length) {
    parts.push(el("ul", { class: "warn-list", "aria-label": "Evaluation errors" },
      result.errors.map((e) => el("li", { class: "error", text: typeof e === "string" ? e : `${(e.loc || []).join(".") || e.path || ""}: ${e.msg || e.error || JSON.stringify(e)}` }))));
  }
  parts.push(el("h3", { text: "Conditions" }),
    el("table", { class: "data truth", id: "truth-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "Condition" }), el("th", { text: "Result" }), el("th", { text: "Observed value" }), el("th", { text: "Path" }))),
      el("tbody", {}, rows(result.conditions || [], 0, []))));
  parts.push(el("h3", { text: matched ? "Actions that would run" : "Actions (would not run: no match)" }));
  const actions = result.actions || [];
  parts.push(actions.length
    ? el("table", { class: "data", id: "sim-actions" },
      el("thead", {}, el("tr", {}, el("th", { text: "Type" }), el("th", { text: "Channel" }), el("th", { text: "Message" }))),
      el("tbody", {}, actions.map((a) => el("tr", {},
        el("td", { text: a.type }), el("td", { text: a.channel || "" }),
        el("td", { text: a.rendered_message ?? a.error ?? "" })))))
    : el("p", { class: "muted", text: "no actions" }));
  box.replaceChildren(...parts.filter(Boolean));
}
