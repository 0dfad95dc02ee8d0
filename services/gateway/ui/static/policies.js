// /cep-policies: the tenant's notification policy (GET /cep/notification-policies) as a tree, a JSON editor that
// saves a new version (PUT, guarded by version), and the route tester (POST /cep/notification-policies/test).
import { api, clearProblem, el, getToken, showProblem, whoami } from "./api.js";
import { utc } from "./format.js";

const $ = (id) => document.getElementById(id);
const EXAMPLE = {
  route: { receiver: "default", group_by: ["alertname"], routes: [] },
  receivers: [{ name: "default", channels: [] }],
  time_intervals: [],
};
let version = 0;

function matchers(route) {
  const equal = Object.entries(route.match || {}).map(([k, v]) => `${k}="${v}"`);
  const regex = Object.entries(route.match_re || {}).map(([k, v]) => `${k}=~"${v}"`);
  return [...equal, ...regex, ...(route.matchers || [])];
}

function node(route, receivers, path) {
  const found = matchers(route);
  const channels = receivers[route.receiver];
  const parts = [
    el("span", { class: "mono", text: found.length ? `{${found.join(", ")}}` : path ? "(any labels)" : "root" }),
    route.receiver ? el("span", { text: ` → ${route.receiver}` }) : el("span", { class: "muted", text: " → (inherited)" }),
    channels ? el("span", { class: "muted", text: ` [${channels.join(", ") || "no channels"}]` }) : null,
    route.continue ? el("span", { class: "badge", text: "continue" }) : null,
  ];
  const timings = ["group_by", "group_wait", "group_interval", "repeat_interval", "mute_time_intervals", "active_time_intervals"]
    .filter((key) => route[key] !== undefined && route[key] !== null)
    .map((key) => `${key}: ${Array.isArray(route[key]) ? route[key].join(",") : route[key]}`);
  const children = (route.routes || []).map((child, i) => node(child, receivers, `${path}${path ? "." : ""}${i}`));
  return el(
    "li",
    { "data-path": path || "root" },
    el("div", { class: "route" }, parts),
    timings.length ? el("div", { class: "hint", text: timings.join(" · ") }) : null,
    children.length ? el("ul", {}, children) : null,
  );
}

function show(policy) {
  const receivers = Object.fromEntries((policy.receivers || []).map((r) => [r.name, r.channels || []]));
  $("policy-tree").replaceChildren(node(policy.route || {}, receivers, ""));
  version = policy.version || 0;
  $("policy-state").textContent = `version ${policy.version}, changed ${utc(policy.updated_at)} UTC by ${policy.updated_by}`;
  const { route, receivers: list, time_intervals: intervals } = policy;
  $("policy-editor").value = JSON.stringify({ route, receivers: list, time_intervals: intervals }, null, 2);
}

function none() {
  version = 0;
  $("policy-tree").replaceChildren(el("li", { class: "muted", text: "No policy: rules notify by their channel actions only." }));
  $("policy-state").textContent = "none";
  if (!$("policy-editor").value) $("policy-editor").value = JSON.stringify(EXAMPLE, null, 2);
}

async function load() {
  clearProblem($("policy-problem"));
  if (!getToken()) {
    $("policy-state").textContent = "Enter an API token above to see the tenant's policy.";
    return;
  }
  const me = await whoami();
  const editable = Boolean(me && me.role !== "viewer");
  for (const id of ["save-policy", "delete-policy", "policy-editor"]) $(id).disabled = !editable;
  try {
    show(await api("/cep/notification-policies"));
  } catch (err) {
    if (err.status === 404) none();
    else showProblem(err, $("policy-problem"));
  }
}

function editorDocument(target) {
  try {
    return JSON.parse($("policy-editor").value);
  } catch (err) {
    showProblem(new Error(`the editor does not hold JSON: ${err.message}`), target);
    return undefined;
  }
}

function addLabel(name = "", value = "") {
  const index = $("label-rows").children.length + 1;
  const row = el(
    "div",
    { class: "row label-row" },
    el("label", { for: `label-name-${index}`, text: `Label ${index} name` }),
    el("input", { id: `label-name-${index}`, class: "label-name", value: name }),
    el("label", { for: `label-value-${index}`, text: `Label ${index} value` }),
    el("input", { id: `label-value-${index}`, class: "label-value", value }),
  );
  $("label-rows").append(row);
}

function labels() {
  const found = {};
  for (const row of $("label-rows").querySelectorAll(".label-row")) {
    const name = row.querySelector(".label-name").value.trim();
    if (name) found[name] = row.querySelector(".label-value").value;
  }
  return found;
}

function showResult(result) {
  $("tester-line").textContent = result.line ? `Receivers: ${result.line}` : "No route matches";
  const rows = result.routes.map((r) =>
    el(
      "tr",
      {},
      el("td", { class: "mono", text: r.path.join(".") || "root" }),
      el("td", { text: r.receiver }),
      el("td", { text: r.channels.join(", ") || "none" }),
      el("td", { text: r.group_by.join(", ") || "-" }),
      el("td", { text: `${r.group_wait} / ${r.group_interval} / ${r.repeat_interval}` }),
      el("td", { text: r.muted_at ? `muted: ${r.muted_reason}` : "no" }),
    ),
  );
  $("tester-routes").querySelector("tbody").replaceChildren(...rows);
}

$("add-label").addEventListener("click", () => addLabel());
$("tester-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblem($("tester-problem"));
  const body = { labels: labels() };
  if ($("tester-at").value.trim()) body.at = $("tester-at").value.trim();
  if ($("tester-draft").checked) {
    body.policy = editorDocument($("tester-problem"));
    if (body.policy === undefined) return;
  }
  try {
    showResult(await api("/cep/notification-policies/test", { method: "POST", body }));
  } catch (err) {
    showProblem(err, $("tester-problem"));
  }
});
$("policy-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblem($("policy-problem"));
  const document_ = editorDocument($("policy-problem"));
  if (document_ === undefined) return;
  try {
    show(await api("/cep/notification-policies", { method: "PUT", body: { ...document_, version } }));
    $("policy-state").textContent += " · saved";
  } catch (err) {
    showProblem(err, $("policy-problem"));
  }
});
$("delete-policy").addEventListener("click", async () => {
  clearProblem($("policy-problem"));
  try {
    await api("/cep/notification-policies", { method: "DELETE", headers: { "If-Match": `"${version}"` } });
    none();
  } catch (err) {
    showProblem(err, $("policy-problem"));
  }
});
window.addEventListener("cep:token", load);
addLabel();
load();
