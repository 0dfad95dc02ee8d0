// The versions panel of /cep-builder: every stored version, a line diff against the current one, and restore
// (a PUT of the old version's body, guarded by the current version so a concurrent change is a 409).
import { api, el } from "./api.js";

const SERVER_FIELDS = [
  "rule_id", "tenant", "version", "created_at", "updated_at", "error_count", "last_error", "last_error_at",
  "firing_count", "last_fired_at",
];

/** The writable part of a rule, as PUT takes it. */
export function writable(rule) {
  const body = { ...rule };
  for (const key of SERVER_FIELDS) delete body[key];
  return body;
}

/** A line diff (longest common subsequence): [["=", line] | ["-", line] | ["+", line], ...]. */
export function diffLines(before, after) {
  const n = before.length;
  const m = after.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = before[i] === after[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (before[i] === after[j]) { out.push(["=", before[i]]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(["-", before[i++]]);
    else out.push(["+", after[j++]]);
  }
  while (i < n) out.push(["-", before[i++]]);
  while (j < m) out.push(["+", after[j++]]);
  return out;
}

function stableStringify(value) {
  if (Array.isArray(value)) return value.map(stableStringify);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, stableStringify(value[k])]));
  }
  return value;
}

function lines(rule) {
  return JSON.stringify(stableStringify(writable(rule)), null, 2).split("\n");
}

export class VersionsPanel {
  constructor(panel, { onRestored, onProblem }) {
    this.panel = panel;
    this.body = panel.querySelector("#versions tbody");
    this.diffBox = panel.querySelector("#version-diff");
    this.onRestored = onRestored;
    this.onProblem = onProblem;
    this.current = null;
  }

  hide() {
    this.panel.hidden = true;
    this.current = null;
  }

  async show(rule) {
    this.current = rule;
    this.panel.hidden = false;
    this.diffBox.replaceChildren();
    const page = await api(`/cep/rules/${encodeURIComponent(rule.rule_id)}/versions?limit=100`);
    this.body.replaceChildren(...page.items.map((v) => el("tr", {},
      el("td", { text: `v${v.version}` }),
      el("td", { text: v.change || "" }),
      el("td", { text: v.at || "" }),
      el("td", { text: v.actor?.name || "" }),
      el("td", {}, v.version === rule.version
        ? el("span", { class: "badge", text: "current" })
        : el("button", { type: "button", class: "link", text: `Compare v${v.version}`, onclick: () => this.compare(v) })))));
  }

  compare(version) {
    const diff = diffLines(lines(version.rule), lines(this.current));
    const restore = el("button", { type: "button", class: "secondary", text: `Restore v${version.version}` });
    restore.addEventListener("click", () => this.restore(version));
    this.diffBox.replaceChildren(
      el("h3", { text: `v${version.version} → v${this.current.version} (current)` }),
      el("div", { class: "diff", "aria-label": "Differences" }, diff
        .filter(([kind]) => kind !== "=" || diff.length < 60)
        .map(([kind, line]) => el("span", { class: kind === "+" ? "diff-add" : kind === "-" ? "diff-del" : "", text: `${kind === "=" ? " " : kind} ${line}\n` }))),
      restore);
    restore.focus();
  }

  async restore(version) {
    try {
      // Activation stays as it is now: it is its own switch (and may be refused by a team policy).
      const body = { ...writable(version.rule), active: this.current.active, version: this.current.version };
      const rule = await api(`/cep/rules/${encodeURIComponent(this.current.rule_id)}`, { method: "PUT", body });
      await this.onRestored(rule);
    } catch (err) {
      this.onProblem(err);
    }
  }
}
