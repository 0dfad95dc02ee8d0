// The condition-tree editor of /cep-builder: nested AND/OR/NOT groups of `field op value` leaves.
// read() gives the form's {logic, conditions} (leaves with typed values); set() loads a rule's tree.
import { el } from "./api.js";

const OPS = ["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "regex", "exists"];
const LOGICS = ["AND", "OR", "NOT"];
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The text an input shows for a stored value: numbers and lists as JSON, strings that look like numbers quoted. */
export function valueText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return NUMBER.test(value.trim()) || value === "true" || value === "false" ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** The value a typed text means: a number, a boolean, a quoted string, a JSON list, or the text itself. */
export function typedValue(op, text) {
  const trimmed = text.trim();
  if (trimmed === "") return "";
  if (op === "in" || op === "not_in" || op === "exists") return trimmed; // the server parses these forms
  if (op === "regex" || op === "contains") return text;
  if (NUMBER.test(trimmed)) return Number(trimmed);
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return trimmed;
    }
  }
  return text;
}

export class ConditionEditor {
  /** `idPrefix` and `labelPrefix` tell several editors on one page apart (a pattern's steps: "p1-", "Step 1");
   * `tree` is the tree to start with. */
  constructor(box, { idPrefix = "", labelPrefix = "", tree = null } = {}) {
    this.box = box;
    this.idPrefix = idPrefix;
    this.named = (text) => (labelPrefix ? `${labelPrefix} ${text.charAt(0).toLowerCase()}${text.slice(1)}` : text);
    this.counter = 0;
    this.onchange = () => {};
    this.set(tree);
  }

  /** Load a tree (a rule's `conditions`, or null for an empty AND group). */
  set(tree) {
    const root = tree && "logic" in tree ? tree : { logic: "AND", conditions: tree ? [tree] : [] };
    this.root = this.group(root, null);
    this.box.replaceChildren(this.root.node);
  }

  /** The tree as the form sends it: {logic, conditions: [leaf | group, ...]}. */
  read() {
    return readGroup(this.root);
  }

  group(data, parent) {
    const n = ++this.counter;
    const logic = el("select", { id: `${this.idPrefix}g${n}-logic`, "aria-label": this.named(parent ? `Group ${n} logic` : "Top-level logic") },
      LOGICS.map((l) => el("option", { value: l, text: l })));
    logic.value = data.logic || "AND";
    const items = el("div", {});
    const group = { kind: "group", n, logic, items, children: [], node: null };
    const addLeaf = el("button", { type: "button", class: "secondary small", text: "Add condition", "aria-label": this.named("Add condition") });
    const addGroup = el("button", { type: "button", class: "secondary small", text: "Add group", "aria-label": this.named("Add group") });
    const head = el("div", { class: "cond-head" },
      el("label", { for: logic.id, text: parent ? "Group" : "Match" }), logic, addLeaf, addGroup);
    if (parent) {
      head.append(el("button", {
        type: "button", class: "secondary small", text: "Remove group", "aria-label": this.named(`Remove group ${n}`),
        onclick: () => this.remove(parent, group),
      }));
    }
    group.node = el("div", { class: "cond-group", role: "group", "aria-label": this.named(parent ? `Group ${n}` : "Conditions") }, head, items);
    addLeaf.addEventListener("click", () => this.append(group, this.leaf({ field: "", op: "==", value: "" }, group), true));
    addGroup.addEventListener("click", () => this.append(group, this.group({ logic: "AND", conditions: [{}] }, group), true));
    logic.addEventListener("change", () => this.onchange());
    for (const child of data.conditions || []) {
      this.append(group, child && "logic" in child ? this.group(child, group) : this.leaf(child || {}, group), false);
    }
    return group;
  }

  leaf(data, parent) {
    const n = ++this.counter;
    const field = el("input", { id: `${this.idPrefix}c${n}-field`, placeholder: "payload path, e.g. severity", "aria-label": this.named(`Condition ${n} field`) });
    field.value = data.field || "";
    const op = el("select", { id: `${this.idPrefix}c${n}-op`, "aria-label": this.named(`Condition ${n} operator`) }, OPS.map((o) => el("option", { value: o, text: o })));
    op.value = data.op || "==";
    const value = el("input", { id: `${this.idPrefix}c${n}-value`, placeholder: "value", "aria-label": this.named(`Condition ${n} value`) });
    value.value = valueText(data.value);
    const leaf = { kind: "leaf", n, field, op, value, node: null };
    const remove = el("button", {
      type: "button", class: "secondary small", text: "Remove", "aria-label": this.named(`Remove condition ${n}`),
      onclick: () => this.remove(parent, leaf),
    });
    leaf.node = el("div", { class: "cond-leaf" }, field, op, value, remove);
    return leaf;
  }

  append(group, child, focus) {
    group.children.push(child);
    group.items.append(child.node);
    if (focus) {
      (child.kind === "leaf" ? child.field : child.logic).focus();
      this.onchange();
    }
  }

  remove(group, child) {
    group.children = group.children.filter((c) => c !== child);
    child.node.remove();
    group.logic.focus();
    this.onchange();
  }
}

function readGroup(group) {
  return {
    logic: group.logic.value,
    conditions: group.children.map((c) =>
      c.kind === "group" ? readGroup(c) : { field: c.field.value, op: c.op.value, value: typedValue(c.op.value, c.value.value) }),
  };
}
