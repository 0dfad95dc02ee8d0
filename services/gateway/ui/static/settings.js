// /cep-settings: the tenant's team policies (GET /cep/settings), saved by an admin with PUT (guarded by version).
import { api, clearProblem, getToken, showProblem, whoami } from "./api.js";
import { utc } from "./format.js";

const $ = (id) => document.getElementById(id);
const problem = $("settings-problem");
const slaInputs = () => [...document.querySelectorAll("#sla-fields input")];
let version = 0;

function show(settings) {
  const p = settings.policies;
  version = settings.version;
  $("p-min-sims").value = p.min_simulations_before_activation ?? "";
  $("p-channel-test").checked = p.require_channel_test;
  $("p-p1-owners").checked = p.p1_requires_owner_and_backup;
  $("p-anomaly-baseline").checked = p.anomaly_requires_ready_baseline;
  $("sla-own").checked = p.ack_sla !== null;
  for (const input of slaInputs()) input.value = (p.ack_sla || {})[input.dataset.priority] || "";
  const inForce = Object.entries(settings.ack_sla).map(([k, v]) => `${k} ${v}`).join(", ");
  $("sla-in-force").textContent = `ACK SLA in force: ${inForce || "none"}`;
  $("settings-state").textContent = settings.version
    ? `version ${settings.version}, changed ${utc(settings.updated_at)} UTC by ${settings.updated_by}`
    : "never changed: every policy is off";
  syncSla();
}

function syncSla() {
  for (const input of slaInputs()) input.disabled = !$("sla-own").checked || $("save-settings").disabled;
}

function read() {
  const minimum = $("p-min-sims").value.trim();
  const sla = {};
  for (const input of slaInputs()) if (input.value.trim()) sla[input.dataset.priority] = input.value.trim();
  return {
    version,
    policies: {
      min_simulations_before_activation: minimum === "" ? null : Number(minimum),
      require_channel_test: $("p-channel-test").checked,
      p1_requires_owner_and_backup: $("p-p1-owners").checked,
      anomaly_requires_ready_baseline: $("p-anomaly-baseline").checked,
      ack_sla: $("sla-own").checked ? sla : null,
    },
  };
}

async function load() {
  clearProblem(problem);
  if (!getToken()) {
    $("settings-state").textContent = "Enter an API token above to see the tenant's policies.";
    return;
  }
  const me = await whoami();
  const editable = Boolean(me && me.role === "admin");
  for (const control of $("settings-form").querySelectorAll("input, button")) control.disabled = !editable;
  try {
    show(await api("/cep/settings"));
    if (!editable) $("settings-state").textContent += " (read only: changing policies needs an admin token)";
  } catch (err) {
    showProblem(err, problem);
  }
}

$("sla-own").addEventListener("change", syncSla);
$("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblem(problem);
  try {
    show(await api("/cep/settings", { method: "PUT", body: read() }));
    $("settings-state").textContent += " · saved";
  } catch (err) {
    showProblem(err, problem);
  }
});
window.addEventListener("cep:token", load);
load();
