// /cep-silences: the tenant's silences by state, each with "Expire"; the form (silences-form.js) creates them.
import { api, el, getToken, showProblem } from "./api.js";
import { badge, utc } from "./format.js";
import { matchersText } from "./matchers-text.js";
import { SilenceForm } from "./silences-form.js";

const $ = (id) => document.getElementById(id);
const tbody = $("silence-list").tBodies[0];


function stateBadge(silence) {
  const word = silence.state;
  return el("span", { class: `badge ${word === "active" ? "badge-active" : word === "pending" ? "badge-draft" : ""}`, text: word });
}

function ends(silence) {
  if (silence.kind === "recurring") {
    const spec = silence.recurrence || {};
    return `recurring (${spec.timezone || "UTC"})${silence.ends_at ? ` until ${utc(silence.ends_at)}` : ""}`;
  }
  return utc(silence.ends_at);
}

function row(silence) {
  const expire = silence.state === "expired" ? null : el("button", { type: "button", class: "danger small",
    text: "Expire", "aria-label": `Expire silence ${matchersText(silence.matchers)}`, onclick: () => expireSilence(silence) });
  return el("tr", { "data-id": silence.silence_id },
    el("td", { class: "mono", text: matchersText(silence.matchers) }),
    el("td", { class: "mono", text: utc(silence.starts_at) }),
    el("td", { class: "mono", text: ends(silence) }),
    el("td", {}, stateBadge(silence),
      silence.state === "active" && !silence.mutes_now ? el("span", { class: "hint", text: " outside its window now" }) : null),
    el("td", { text: silence.created_by }),
    el("td", { text: silence.comment }),
    el("td", {}, expire));
}

async function expireSilence(silence) {
  try {
    await api(`/cep/silences/${encodeURIComponent(silence.silence_id)}/expire`, { method: "POST" });
    await loadList();
  } catch (err) {
    showProblem(err);
  }
}

let loadSeq = 0;
async function loadList() {
  const seq = ++loadSeq;
  if (!getToken()) {
    tbody.replaceChildren();
    $("silence-count").textContent = "Enter an API token above to see the tenant's silences.";
    return;
  }
  const state = $("f-state").value;
  const params = new URLSearchParams({ limit: "200" });
  if (state) params.set("state", state);
  try {
    const page = await api(`/cep/silences?${params}`);
    if (seq !== loadSeq) return;
    tbody.replaceChildren(...page.items.map(row));
    $("silence-count").textContent = `${page.total} silence${page.total === 1 ? "" : "s"}`;
  } catch (err) {
    showProblem(err);
  }
}

$("f-state").addEventListener("change", loadList);
$("silence-filters").addEventListener("submit", (e) => { e.preventDefault(); loadList(); });
const form = new SilenceForm($("silence-form"), { preview: $("silence-preview"), onCreated: loadList });
window.addEventListener("cep:token", () => {
  loadList();
  form.refresh();
});
form.prefill(new URLSearchParams(location.search));
loadList();
