// /cep-channels: the status table (last test, deliveries, failure rate), create and edit with the fields of each
// type, and the test button with its classified result (ok, or timeout | auth | network | http | template | ...).
import { api, clearProblem, el, getToken, showProblem } from "./api.js";
import { readFields, renderFields } from "./channels-form.js";
import { percent, utc } from "./format.js";

const $ = (id) => document.getElementById(id);
const form = $("channel-form");
const problem = $("channel-problem");
let types = {}; // type name -> its description from GET /cep/channels/types
let current = null; // the stored channel being edited, or null for a new one
let dirty = false;

function currentType() {
  return types[$("c-type").value];
}

function showType(config = {}, secretsSet = []) {
  const type = currentType();
  $("type-description").textContent = type ? type.description || "" : "";
  if (type) renderFields($("config-fields"), type, config, secretsSet);
}

function edit(channel) {
  current = channel;
  dirty = false;
  clearProblem(problem);
  $("test-result").replaceChildren();
  $("channel-heading").textContent = channel ? `Edit channel: ${channel.name} (v${channel.version})` : "New channel";
  $("c-name").value = channel ? channel.name : "";
  $("c-type").value = channel ? channel.type : $("c-type").options[0]?.value || "";
  $("c-type").disabled = Boolean(channel); // a channel keeps its type
  $("delete-channel").hidden = !channel;
  showType(channel ? channel.config : {}, channel ? channel.secrets_set : []);
}

async function openChannel(id) {
  try {
    edit(await api(`/cep/channels/${encodeURIComponent(id)}`));
    $("c-name").focus();
  } catch (err) {
    showProblem(err, problem);
  }
}

function lastTest(test) {
  if (!test) return el("span", { class: "muted", text: "never" });
  const word = test.ok ? "ok" : (test.error && test.error.kind) || "failed";
  const tone = test.ok ? "badge-ok" : "badge-bad";
  return el("span", {}, el("span", { class: `badge ${tone}`, text: word }), " ", el("span", { class: "muted", text: utc(test.at) }));
}

function statusRow(item) {
  return el("tr", { "data-id": item.channel_id },
    el("td", {}, el("button", { type: "button", class: "link", text: item.name, onclick: () => openChannel(item.channel_id) })),
    el("td", { text: item.type }),
    el("td", { class: "last-test" }, lastTest(item.last_test)),
    el("td", { class: "num", text: String(item.sent) }),
    el("td", { class: "num", text: String(item.failed) }),
    el("td", { class: "num", text: percent(item.failure_rate) }),
    el("td", { class: "muted", text: item.last_error || "" }),
    el("td", {}, el("button", { type: "button", class: "small secondary", text: "Test",
      "aria-label": `Test ${item.name}`, onclick: () => runTest({ channel: item.channel_id }, item.name) })));
}

async function loadStatus() {
  const tbody = $("channel-status").tBodies[0];
  if (!getToken()) {
    tbody.replaceChildren();
    $("channel-count").textContent = "Enter an API token above to see the tenant's channels.";
    return;
  }
  try {
    const status = await api("/cep/channels/status");
    tbody.replaceChildren(...status.items.map(statusRow));
    $("channel-count").textContent = `${status.total} channel${status.total === 1 ? "" : "s"}`;
    $("status-window").textContent = `deliveries of events since ${utc(status.since)} UTC`;
  } catch (err) {
    showProblem(err);
  }
}

async function loadTypes() {
  if (!getToken()) return;
  try {
    const page = await api("/cep/channels/types");
    types = Object.fromEntries(page.items.map((t) => [t.type, t]));
    $("c-type").replaceChildren(...page.items.map((t) => el("option", { value: t.type, text: t.deliverable === false ? `${t.type} (not delivered yet)` : t.type })));
    if (!current) edit(null);
  } catch (err) {
    showProblem(err);
  }
}

function body() {
  const type = currentType();
  return { name: $("c-name").value.trim(), type: $("c-type").value, config: type ? readFields($("config-fields"), type) : {} };
}

async function save(event) {
  event.preventDefault();
  clearProblem(problem);
  try {
    const saved = current
      ? await api(`/cep/channels/${encodeURIComponent(current.channel_id)}`, { method: "PUT", body: { ...body(), version: current.version } })
      : await api("/cep/channels", { method: "POST", body: body() });
    edit(saved);
    $("test-result").replaceChildren(el("p", { class: "ok-line", text: `Saved ${saved.name} (v${saved.version}).` }));
    loadStatus();
  } catch (err) {
    showProblem(err, problem);
  }
}

function showResult(result, what) {
  const verdict = result.ok
    ? el("p", { class: "match t-true", id: "test-verdict", text: "ok: delivered" })
    : el("p", { class: "match t-false", id: "test-verdict", text: `failed: ${result.error ? result.error.kind : "unknown"}` });
  const details = [
    ["Tested", what],
    ["HTTP status", result.status_code ?? "none"],
    ["Latency", result.latency_ms === null || result.latency_ms === undefined ? "n/a" : `${Math.round(result.latency_ms)} ms`],
  ];
  if (result.error) details.push(["Detail", result.error.detail]);
  $("test-result").replaceChildren(verdict,
    el("dl", { class: "facts" }, details.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: String(value) })])));
}

async function runTest(target, name = "") {
  clearProblem(problem);
  const message = $("test-message").value.trim();
  const what = target.channel ? `saved channel ${name || target.channel}` : "the configuration in the form (not saved)";
  $("test-result").replaceChildren(el("p", { class: "muted", text: "Testing…" }));
  try {
    showResult(await api("/cep/channels/test", { method: "POST", body: { ...target, ...(message ? { message } : {}) } }), what);
    loadStatus();
  } catch (err) {
    $("test-result").replaceChildren();
    showProblem(err, problem);
  }
}

async function remove() {
  if (!current || !confirm(`Delete channel ${current.name}?`)) return;
  try {
    await api(`/cep/channels/${encodeURIComponent(current.channel_id)}`, { method: "DELETE" });
    edit(null);
    loadStatus();
  } catch (err) {
    showProblem(err, problem);
  }
}

form.addEventListener("submit", save);
form.addEventListener("input", (e) => {
  if (e.target.id !== "test-message") dirty = true;
});
$("c-type").addEventListener("change", () => showType());
// A saved channel without unsaved edits is tested as stored; otherwise the form's configuration is tested as a draft.
$("test-channel").addEventListener("click", () => {
  const { type, config } = body();
  runTest(current && !dirty ? { channel: current.channel_id } : { type, config }, current ? current.name : "");
});
$("delete-channel").addEventListener("click", remove);
$("new-channel").addEventListener("click", () => {
  edit(null);
  $("c-name").focus();
});
window.addEventListener("cep:token", () => {
  loadTypes();
  loadStatus();
});
loadTypes();
loadStatus();
