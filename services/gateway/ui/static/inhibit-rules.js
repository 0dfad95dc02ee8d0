// /cep-inhibit-rules: the tenant's inhibition rules (list, create, edit, delete) and a live preview of the open
// events that would be inhibited now: under the draft being edited, or under the stored rules.
import { api, el, getToken, showProblem } from "./api.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { labelChips } from "./format.js";
import { MatcherRows } from "./matcher-rows.js";
import { matchersText } from "./matchers-text.js";

const $ = (id) => document.getElementById(id);
const PREVIEW_DELAY_MS = 300;
const form = $("inhibit-form");
const problem = $("inhibit-problem");
const tbody = $("inhibit-list").tBodies[0];
let editing = null; // the stored rule being edited, or null for a new one
let timer = null;
let previewSeq = 0;

const source = new MatcherRows($("source-rows"), { noun: "Source matcher", loc: "source_matchers", idPrefix: "src", onChange: schedulePreview });
const target = new MatcherRows($("target-rows"), { noun: "Target matcher", loc: "target_matchers", idPrefix: "tgt", onChange: schedulePreview });

function body() {
  const equal = $("i-equal").value.split(",").map((name) => name.trim()).filter(Boolean);
  const out = { source_matchers: source.value(), target_matchers: target.value(), equal };
  const description = $("i-description").value.trim();
  if (description) out.description = description;
  return out;
}

function edit(rule) {
  editing = rule;
  source.set(rule ? rule.source_matchers : []);
  target.set(rule ? rule.target_matchers : []);
  $("i-equal").value = rule ? rule.equal.join(", ") : "";
  $("i-description").value = rule ? rule.description || "" : "";
  $("inhibit-form-heading").textContent = rule ? `Edit inhibition rule (v${rule.version})` : "New inhibition rule";
  $("save-inhibit-rule").textContent = rule ? "Save rule" : "Create rule";
  $("delete-inhibit-rule").hidden = !rule;
  clearFieldErrors(form, problem);
  for (const tr of tbody.rows) tr.setAttribute("aria-selected", rule && tr.dataset.id === rule.rule_id ? "true" : "false");
  schedulePreview();
}

function row(rule) {
  return el("tr", { "data-id": rule.rule_id, "aria-selected": editing && editing.rule_id === rule.rule_id ? "true" : "false" },
    el("td", { class: "mono", text: matchersText(rule.source_matchers) }),
    el("td", { class: "mono", text: matchersText(rule.target_matchers) }),
    el("td", { class: "mono", text: rule.equal.join(", ") }),
    el("td", { text: rule.description || "" }),
    el("td", {}, el("button", { type: "button", class: "secondary small", text: "Edit",
      "aria-label": `Edit inhibition rule ${matchersText(rule.source_matchers)}`, onclick: () => edit(rule) })));
}

async function loadList() {
  if (!getToken()) {
    tbody.replaceChildren();
    $("inhibit-count").textContent = "Enter an API token above to see the tenant's inhibition rules.";
    return;
  }
  try {
    const page = await api("/cep/inhibit-rules?limit=200");
    tbody.replaceChildren(...page.items.map(row));
    $("inhibit-count").textContent = `${page.total} rule${page.total === 1 ? "" : "s"}`;
  } catch (err) {
    showProblem(err);
  }
}

async function save() {
  const path = editing ? `/cep/inhibit-rules/${encodeURIComponent(editing.rule_id)}` : "/cep/inhibit-rules";
  const sent = editing ? { ...body(), version: editing.version } : body();
  try {
    const saved = await api(path, { method: editing ? "PUT" : "POST", body: sent });
    await loadList();
    edit(saved);
  } catch (err) {
    showFieldErrors(form, err, problem);
  }
}

async function remove() {
  if (!editing) return;
  try {
    await api(`/cep/inhibit-rules/${encodeURIComponent(editing.rule_id)}`, { method: "DELETE", headers: { "If-Match": `"${editing.version}"` } });
    edit(null);
    await loadList();
  } catch (err) {
    showFieldErrors(form, err, problem);
  }
}

function schedulePreview() {
  clearTimeout(timer);
  timer = setTimeout(preview, PREVIEW_DELAY_MS);
}

/** Under the draft when both sides have a matcher, else under the stored rules. */
async function preview() {
  const seq = ++previewSeq;
  if (!getToken()) return;
  const draft = body();
  const useDraft = draft.source_matchers.length > 0 && draft.target_matchers.length > 0;
  $("inhibit-preview-basis").textContent = useDraft ? "under the rule in the form" : "under the stored rules";
  try {
    const found = await api("/cep/inhibit-rules/preview", { method: "POST", body: useDraft ? { rules: [draft] } : {} });
    if (seq !== previewSeq) return;
    clearFieldErrors(form, problem);
    $("inhibit-preview").replaceChildren(...verdicts(found));
  } catch (err) {
    if (seq !== previewSeq) return;
    showFieldErrors(form, unprefixed(err), problem);
    $("inhibit-preview").replaceChildren(el("p", { class: "muted", text: "Fix the rule to see a preview." }));
  }
}

/** The preview names a draft's fields `rules.0.<field>`: shown at `<field>` as a save would name them. */
function unprefixed(err) {
  for (const error of err?.problem?.errors || []) {
    if (error.loc && error.loc[0] === "rules" && error.loc[1] === 0) error.loc = error.loc.slice(2);
  }
  return err;
}

function verdicts(found) {
  const items = found.inhibited || [];
  if (!items.length) return [el("p", { id: "inhibit-preview-count", text: "No open event would be inhibited." })];
  return [el("p", { id: "inhibit-preview-count", text: `${items.length} open event${items.length === 1 ? "" : "s"} would be inhibited.` }),
    el("ul", { class: "preview-list", id: "inhibited-events" }, items.map((item) => el("li", { "data-id": item.event_id },
      el("a", { href: `/cep-events?event=${encodeURIComponent(item.event_id)}`, text: item.rule_name }), " ",
      labelChips(item.labels, { all: false }),
      el("span", { class: "hint", text: ` by ${item.inhibited_by.length} open event${item.inhibited_by.length === 1 ? "" : "s"}` }))))];
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  save();
});
$("delete-inhibit-rule").addEventListener("click", remove);
$("new-inhibit-rule").addEventListener("click", () => edit(null));
$("i-equal").addEventListener("input", schedulePreview);
window.addEventListener("cep:token", () => {
  loadList();
  schedulePreview();
});
edit(null);
loadList();
