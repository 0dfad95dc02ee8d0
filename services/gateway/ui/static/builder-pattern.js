// The pattern trigger of /cep-builder (trigger type "pattern", docs/patterns.md): steps as rows (name, event type,
// times min/max, negate, optional conditions), then within, same, contiguity and skip.
// read() gives the form's `trigger` as POST /cep/rules/preview takes it: strings where the server coerces them
// (times, same), each step's conditions as the rule's condition rows. Nothing is computed here: the summary and the
// JSON preview are the preview's answer.
import { el } from "./api.js";
import { ConditionEditor } from "./builder-conditions.js";

const CONTIGUITY = [["relaxed", "relaxed (others may come between)"], ["strict", "strict (next event)"], ["any", "any (every combination)"]];
const SKIP = [["past_last", "past the last event (no overlap)"], ["to_next", "to the next (overlapping)"]];
const EMPTY_STEP = { name: "", event_type: "", times: null, negate: false, conditions: null };

function text(id, label, value, hint) {
  const input = el("input", { id, type: "text" });
  input.value = value ?? "";
  return el("div", { class: "field" }, el("label", { for: id, text: label }), input, hint ? el("span", { class: "hint", text: hint }) : null);
}

function choice(id, label, options, value) {
  const select = el("select", { id }, options.map(([v, t]) => el("option", { value: v, text: t })));
  select.value = value || options[0][0];
  return el("div", { class: "field" }, el("label", { for: id, text: label }), select);
}

export class PatternEditor {
  constructor() {
    this.steps = []; // per row: {inputs, conditions (a ConditionEditor)}
    this.list = null;
  }

  /** Render a pattern trigger_spec (or {} for a new one) into `box`. */
  render(box, spec = {}) {
    this.list = el("div", { class: "pattern-steps", role: "list", "aria-label": "Pattern steps" });
    const add = el("button", { type: "button", class: "secondary small", id: "add-step", text: "Add step" });
    add.addEventListener("click", () => {
      this.draw([...this.readSteps(), { ...EMPTY_STEP }], this.steps.length + 1);
      this.changed();
    });
    const same = Array.isArray(spec.same) ? spec.same.join(", ") : spec.same;
    box.replaceChildren(
      el("div", { class: "field pattern-field" }, el("span", { class: "label", text: "Steps, in order" }), this.list, add),
      text("t-within", "Within", spec.within, "from the first matched event to the last, e.g. 2m"),
      text("t-same", "Same (correlation key)", same, "comma-separated paths equal across the match, e.g. user"),
      choice("t-contiguity", "Contiguity", CONTIGUITY, spec.contiguity),
      choice("t-skip", "After a match, skip", SKIP, spec.skip),
    );
    this.box = box;
    const steps = Array.isArray(spec.steps) && spec.steps.length ? spec.steps : [{ ...EMPTY_STEP }];
    this.draw(steps.map(fromSpec), 0);
  }

  /** The form's `trigger` object. */
  read() {
    return {
      steps: this.readSteps(),
      within: document.getElementById("t-within").value,
      same: document.getElementById("t-same").value,
      contiguity: document.getElementById("t-contiguity").value,
      skip: document.getElementById("t-skip").value,
    };
  }

  /** The input a field error names (`["trigger_spec", "steps", 1, "times", "min"]`), or null. */
  inputFor(loc) {
    const [, key, index, field, sub] = loc;
    if (key !== "steps" || typeof index !== "number") return document.getElementById(`t-${key}`);
    const id = field === "times" ? `p${index + 1}-${sub || "min"}` : `p${index + 1}-${field || "name"}`;
    return document.getElementById(id);
  }

  readSteps() {
    return this.steps.map(({ inputs, conditions }) => {
      const tree = conditions.read();
      const step = { name: inputs.name.value, event_type: inputs.event_type.value, negate: inputs.negate.checked };
      // No `times` when both are blank: exactly once (a blank max beside a min is "no upper bound").
      if (inputs.min.value.trim() || inputs.max.value.trim()) step.times = { min: inputs.min.value, max: inputs.max.value };
      return { ...step, logic: tree.logic, conditions: tree.conditions };
    });
  }

  // Rows are redrawn from their values on add and remove, so ids and labels always follow the row's position.
  draw(rows, focusRow) {
    this.steps = [];
    this.list.replaceChildren(...rows.map((row, i) => this.row(row, i + 1, rows.length)));
    if (focusRow) this.steps[focusRow - 1]?.inputs.name.focus();
  }

  row(data, n, count) {
    const id = (key) => `p${n}-${key}`;
    const input = (key, value, extra = {}) => {
      const field = el("input", { id: id(key), type: "text", ...extra });
      field.value = value ?? "";
      return field;
    };
    const inputs = {
      name: input("name", data.name, { placeholder: `e.g. step${n}` }),
      event_type: input("event_type", data.event_type, { placeholder: "e.g. login.failed" }),
      min: input("min", data.times?.min, { inputmode: "numeric", placeholder: "1" }),
      max: input("max", data.times?.max, { inputmode: "numeric", placeholder: "no bound" }),
      negate: el("input", { id: id("negate"), type: "checkbox" }),
    };
    inputs.negate.checked = Boolean(data.negate);
    const box = el("div", {});
    const conditions = new ConditionEditor(box, { idPrefix: `p${n}-`, labelPrefix: `Step ${n}`, tree: treeOf(data) });
    conditions.onchange = () => this.changed();
    const remove = el("button", { type: "button", class: "secondary small", text: "Remove", "aria-label": `Remove step ${n}` });
    remove.disabled = count === 1; // a pattern has at least one step
    remove.addEventListener("click", () => {
      this.draw(this.readSteps().filter((_, i) => i !== n - 1), 0);
      document.getElementById("add-step").focus(); // the focus never falls back to the page's top
      this.changed();
    });
    const field = (key, label) => el("div", { class: "field" }, el("label", { for: id(key), text: label }), inputs[key]);
    this.steps.push({ inputs, conditions });
    return el("div", { class: "pattern-step", role: "listitem", "aria-label": `Step ${n}` },
      el("div", { class: "fields" },
        field("name", `Step ${n} name`),
        field("event_type", `Step ${n} event type`),
        field("min", `Step ${n} times min`),
        field("max", `Step ${n} times max`),
        el("div", { class: "field" }, el("span", { class: "label", text: "\u00a0" }),
          el("label", { class: "switch" }, inputs.negate, ` Step ${n} must not occur`)),
        el("div", { class: "field" }, el("span", { class: "label", text: "\u00a0" }), remove)),
      el("details", { class: "pattern-step-conditions" }, el("summary", { text: `Step ${n} conditions (optional)` }), box));
  }

  changed() {
    // The form previews on any change event that bubbles up to it (builder.js).
    this.box.dispatchEvent(new Event("change", { bubbles: true }));
  }
}

/** A stored step (canonical JSON) as the row's values. */
function fromSpec(step) {
  const times = step.times ? { min: String(step.times.min ?? ""), max: step.times.max == null ? "" : String(step.times.max) } : null;
  return { ...step, times };
}

/** A step's conditions for the editor: a stored step has a tree (or null); a row read back has {logic, rows}. */
function treeOf(data) {
  if (!Array.isArray(data.conditions)) return data.conditions ?? null;
  return data.conditions.length ? { logic: data.logic || "AND", conditions: data.conditions } : null;
}
