// /cep-builder: the rule list, the rule form with its live preview, simulate, activation and versions.
import { ago, api, ApiError, clearProblem, el, getToken, showProblem } from "./api.js";
import { ConditionEditor } from "./builder-conditions.js";
import { ActionsEditor, blankRule, fillBasics, pattern, readForm, renderTrigger } from "./builder-form.js";
import { PairsEditor } from "./builder-labels.js";
import { renderSimulation } from "./builder-simulate.js";
import { VersionsPanel } from "./builder-versions.js";

const $ = (id) => document.getElementById(id);
const form = $("rule-form");
const editorProblem = $("editor-problem");
const conditions = new ConditionEditor($("conditions"));
const actions = new ActionsEditor($("actions"), []);
const named = {
  labels: new PairsEditor($("labels"), $("add-label"), { prefix: "label", noun: "Label", valueHint: "e.g. sre" }),
  annotations: new PairsEditor($("annotations"), $("add-annotation"), {
    prefix: "annotation", noun: "Annotation", valueHint: "a template, e.g. {{ payload.host }} is down",
  }),
};
const versions = new VersionsPanel($("versions-panel"), { onRestored: (rule) => opened(rule, "Restored"), onProblem: problem });

let current = null; // the stored rule being edited, or null for a new one
let dirty = false; // the form differs from `current`
let lastPreview = null;
let previewTimer = null;
let previewSeq = 0;

function problem(err) {
  showProblem(err, editorProblem);
  editorProblem.scrollIntoView({ block: "nearest" });
}

// ---- the list ----

async function loadList() {
  if (!getToken()) {
    $("rule-list").tBodies[0].replaceChildren();
    $("rule-count").textContent = "Enter an API token above to see the tenant's rules.";
    return;
  }
  const params = new URLSearchParams({ limit: "200" });
  if ($("filter-q").value.trim()) params.set("q", $("filter-q").value.trim());
  if ($("filter-type").value) params.set("trigger_type", $("filter-type").value);
  let page;
  try {
    page = await api(`/cep/rules?${params}`);
  } catch (err) {
    $("rule-list").tBodies[0].replaceChildren();
    $("rule-count").textContent = "";
    showProblem(err);
    return;
  }
  $("rule-list").tBodies[0].replaceChildren(...page.items.map(listRow));
  $("rule-count").textContent = `${page.total} rule${page.total === 1 ? "" : "s"}`;
}

function listRow(rule) {
  const selected = current && current.rule_id === rule.rule_id;
  return el("tr", { "data-rule-id": rule.rule_id, "aria-selected": selected ? "true" : "false" },
    el("td", {}, el("button", { type: "button", class: "link", text: rule.name, onclick: () => openById(rule.rule_id) })),
    el("td", {}, el("span", { class: `badge ${rule.active ? "badge-active" : "badge-draft"}`, text: rule.active ? "Active" : "Draft" }),
      ...errorBadge(rule)),
    el("td", { text: rule.trigger_type }),
    el("td", { text: rule.owner || "" }),
    el("td", { text: rule.priority }),
    el("td", { title: rule.last_fired_at || "", text: rule.last_fired_at ? ago(rule.last_fired_at) : "never" }),
    el("td", { class: "num", text: String(rule.firing_count ?? 0) }));
}

/** A rule that threw on events (its dead letters): how often, the last error in the tooltip. */
function errorBadge(rule) {
  if (!rule.error_count) return [];
  const text = `${rule.error_count} error${rule.error_count === 1 ? "" : "s"}`;
  return [" ", el("span", { class: "badge badge-bad rule-errors", title: `${rule.last_error_at || ""} ${rule.last_error || ""}`.trim(), text })];
}

// ---- the editor ----

function load(rule) {
  fillBasics(rule);
  renderTrigger($("trigger-fields"), rule.trigger_type, rule.trigger_spec || {});
  conditions.set(rule.conditions);
  actions.set(rule.action_spec || []);
  for (const [key, editor] of Object.entries(named)) editor.set(rule[key]);
  dirty = false;
}

function clearSimulation() {
  $("sim-result").replaceChildren();
  $("sim-mode").textContent = "";
}

function newRule({ keepUrl = false } = {}) {
  current = null;
  clearSimulation();
  if (!keepUrl) history.replaceState(null, "", location.pathname);
  load(blankRule());
  $("editor-heading").textContent = "New rule";
  $("rule-state").hidden = true;
  $("activate-box").hidden = true;
  $("active-on-create").hidden = false;
  $("delete").hidden = true;
  versions.hide();
  clearProblem(editorProblem);
  markSelected();
  preview();
  $("f-name").focus();
}

async function openById(ruleId) {
  try {
    const rule = await api(`/cep/rules/${encodeURIComponent(ruleId)}`);
    // A second start (the token announced after the page opened the rule) never wipes an edit under way.
    if (dirty && current && current.rule_id === rule.rule_id) return;
    const shown = opened(rule); // the form is filled at once; the list and versions load after
    // Focus the name only if the user is not already in the form: typing that began while the list and versions
    // loaded must not land in another field.
    if (!form.contains(document.activeElement)) $("f-name").focus();
    await shown;
  } catch (err) {
    showProblem(err);
  }
}

async function opened(rule, notice) {
  if (!current || current.rule_id !== rule.rule_id) clearSimulation();
  current = rule;
  history.replaceState(null, "", `${location.pathname}?rule=${encodeURIComponent(rule.rule_id)}`);
  load(rule);
  $("editor-heading").textContent = `Edit rule: ${rule.name} (v${rule.version})`;
  const badge = $("rule-state");
  badge.hidden = false;
  badge.className = `badge ${rule.active ? "badge-active" : "badge-draft"}`;
  badge.textContent = notice ? `${notice} · ${rule.active ? "Active" : "Draft"}` : rule.active ? "Active" : "Draft";
  $("activate-box").hidden = false;
  $("activate").checked = rule.active;
  $("active-on-create").hidden = true;
  $("delete").hidden = false;
  clearProblem(editorProblem);
  markSelected();
  preview();
  await Promise.all([loadList(), versions.show(rule).catch(problem)]);
}

function markSelected() {
  for (const row of $("rule-list").tBodies[0].rows) {
    row.setAttribute("aria-selected", current && row.dataset.ruleId === current.rule_id ? "true" : "false");
  }
}

// ---- preview: summary, warnings and errors, JSON ----

function schedulePreview() {
  dirty = true;
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 250);
}

async function preview() {
  clearTimeout(previewTimer);
  if (!getToken()) {
    $("summary").textContent = "(enter an API token above to preview)";
    return null;
  }
  const seq = ++previewSeq;
  let result;
  try {
    result = await api("/cep/rules/preview", { method: "POST", body: readForm(conditions, actions, named) });
  } catch (err) {
    if (seq === previewSeq) problem(err);
    return null;
  }
  if (seq !== previewSeq) return result; // a newer preview is on its way
  lastPreview = result;
  $("summary").textContent = result.summary || (result.errors.length ? "(incomplete: see below)" : "");
  const items = [
    ...result.errors.map((e) => el("li", { class: "error", text: `${(e.loc || []).join(".") || "(form)"}: ${e.msg}` })),
    ...result.warnings.map((w) => el("li", { text: w })),
  ];
  $("warnings").replaceChildren(...items);
  $("no-warnings").hidden = items.length > 0;
  $("json-preview").textContent = JSON.stringify(result.rule ?? { errors: result.errors }, null, 2);
  markInvalid(result.errors);
  return result;
}

function markInvalid(errors) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const e of errors) {
    const [head, key] = e.loc || [];
    const id = head === "trigger_spec" || head === "trigger" ? `t-${key}` : `f-${head}`;
    const input = key === "steps" ? pattern.inputFor(e.loc) : document.getElementById(id);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

// ---- save, activate, delete ----

async function save(event) {
  event.preventDefault();
  clearProblem(editorProblem);
  const result = await preview();
  if (!result) return;
  if (result.errors.length) {
    problem(new ApiError(422, { title: "Fix the form first", detail: "the rule has missing or invalid fields", errors: result.errors }));
    return;
  }
  try {
    const rule = current
      ? await api(`/cep/rules/${encodeURIComponent(current.rule_id)}`, {
          method: "PUT", body: { ...result.rule, active: current.active, version: current.version },
        })
      : await api("/cep/rules/form", { method: "POST", body: readForm(conditions, actions, named) });
    await opened(rule, "Saved");
  } catch (err) {
    problem(err);
  }
}

async function toggleActive() {
  const box = $("activate");
  const wanted = box.checked;
  clearProblem(editorProblem);
  try {
    const rule = await api(`/cep/rules/${encodeURIComponent(current.rule_id)}`, {
      method: "PATCH", body: { active: wanted, version: current.version },
    });
    await opened(rule, wanted ? "Activated" : "Deactivated");
    $("activate").focus();
  } catch (err) {
    box.checked = !wanted;
    if (err instanceof ApiError && err.status === 409) {
      err.problem.title = wanted ? "Activation refused" : "Change refused";
    }
    problem(err);
  }
}

async function remove() {
  if (!current || !confirm(`Delete rule ${current.name}?`)) return;
  try {
    await api(`/cep/rules/${encodeURIComponent(current.rule_id)}`, { method: "DELETE", headers: { "If-Match": `"${current.version}"` } });
    newRule();
    await loadList();
  } catch (err) {
    problem(err);
  }
}

// ---- simulate ----

async function runSimulation() {
  const box = $("sim-result");
  box.replaceChildren(); // an old result never passes for the new one
  let payload;
  try {
    payload = JSON.parse($("sim-payload").value);
  } catch (err) {
    showProblem(new ApiError(400, { title: "Payload is not JSON", detail: err.message }), box);
    return;
  }
  const body = Array.isArray(payload) ? { payloads: payload } : { payload };
  try {
    let result;
    if (current && !dirty) {
      $("sim-mode").textContent = `stored rule v${current.version} (counts toward its simulation record)`;
      result = await api(`/cep/rules/${encodeURIComponent(current.rule_id)}/simulate`, { method: "POST", body });
    } else {
      const draft = await preview();
      if (!draft || !draft.rule) {
        showProblem(new ApiError(422, { title: "Fix the form first", detail: "the draft is incomplete", errors: draft ? draft.errors : [] }), box);
        return;
      }
      $("sim-mode").textContent = current ? "the edited draft (not saved)" : "the draft (not saved)";
      result = await api("/cep/rules/simulate", { method: "POST", body: { rule: draft.rule, ...body } });
    }
    renderSimulation(box, result);
  } catch (err) {
    showProblem(err, box);
  }
}

// ---- wiring ----

async function loadChannels() {
  if (!getToken()) return;
  try {
    const page = await api("/cep/channels?limit=500");
    actions.setChannels(page.items);
  } catch {
    actions.setChannels([]); // no token yet, or no right to list: channels can still be typed
  }
}

$("f-trigger_type").addEventListener("change", () => renderTrigger($("trigger-fields"), $("f-trigger_type").value, {}));
function edited(event) {
  if (event.target.id !== "activate") schedulePreview(); // the switch saves itself; it is not an edit
}
form.addEventListener("input", edited);
form.addEventListener("change", edited);
conditions.onchange = schedulePreview;
actions.onchange = schedulePreview;
for (const editor of Object.values(named)) editor.onchange = schedulePreview;
form.addEventListener("submit", save);
$("activate").addEventListener("change", toggleActive);
$("delete").addEventListener("click", remove);
$("reset").addEventListener("click", () => (current ? opened(current) : newRule()));
$("add-action").addEventListener("click", () => {
  const row = actions.add();
  row.type.focus();
  schedulePreview();
});
$("new-rule").addEventListener("click", () => newRule());
$("rule-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  loadList();
});
$("simulate").addEventListener("click", runSimulation);
// `/cep-builder?rule=<id>` opens that rule (links from events and the dashboard use it).
let starts = 0;
async function start() {
  const mine = ++starts;
  clearProblem(editorProblem);
  const wanted = new URLSearchParams(location.search).get("rule");
  await Promise.all([loadList(), loadChannels()]);
  if (mine !== starts) return; // a newer start (a token entered meanwhile) does the rest
  if (wanted && getToken()) await openById(wanted);
  else if (!current && !dirty) newRule({ keepUrl: true }); // never wipe what the user is typing
}
window.addEventListener("cep:token", start);
start();
