// An editor of label matchers (rows: name, operator, value; add and remove), used by the Silences page and the
// inhibition rules' source and target sides. Every control is labelled ("Matcher 2 value"); each row has a slot
// for the field errors of a 422 (`matchers.1.value`) and the list has one for the list itself (`matchers`).
import { el } from "./api.js";

export const OPERATORS = ["=", "!=", "=~", "!~"];

/** Matcher rows in `container`; `noun` names the controls ("Matcher", "Source matcher"); `loc` is the body field
 * whose errors are shown here; `onChange()` is called on every edit. */
export class MatcherRows {
  constructor(container, { noun = "Matcher", loc = "matchers", idPrefix = "m", onChange = () => {} } = {}) {
    this.container = container;
    this.noun = noun;
    this.loc = loc;
    this.idPrefix = idPrefix;
    this.onChange = onChange;
    this.list = el("div", { class: "matcher-list" });
    this.error = el("p", { class: "field-error", "data-error-for": loc, hidden: true });
    const add = el("button", { type: "button", class: "secondary small", text: `Add ${noun.toLowerCase()}`,
      onclick: () => { this.addRow({}, true); this.onChange(); } });
    container.replaceChildren(this.list, this.error, add);
  }

  /** Replace the rows by these matchers (at least one empty row stays). */
  set(matchers) {
    this.list.replaceChildren();
    for (const matcher of matchers) this.addRow(matcher);
    if (!matchers.length) this.addRow({});
  }

  /** The matchers as the API takes them, leaving out rows with neither a name nor a value. */
  value() {
    return [...this.list.children]
      .map((row) => ({ name: row.querySelector(".m-name").value.trim(), type: row.querySelector(".m-type").value,
        value: row.querySelector(".m-value").value }))
      .filter((m) => m.name || m.value);
  }

  addRow({ name = "", type = "=", value = "" }, focus = false) {
    const row = el("div", { class: "matcher-row" });
    const select = el("select", { class: "m-type" }, OPERATORS.map((op) => el("option", { value: op, text: op })));
    select.value = type;
    const changed = () => this.onChange();
    row.append(
      el("input", { class: "m-name", value: name, placeholder: "label", spellcheck: "false", oninput: changed }),
      select,
      el("input", { class: "m-value", value, placeholder: "value", spellcheck: "false", oninput: changed }),
      el("button", { type: "button", class: "link m-remove", text: "Remove", onclick: () => {
        row.remove();
        if (!this.list.children.length) this.addRow({});
        this.renumber();
        this.onChange();
      } }),
      el("p", { class: "field-error m-error", hidden: true }),
    );
    select.addEventListener("change", changed);
    this.list.append(row);
    this.renumber();
    if (focus) row.querySelector(".m-name").focus();
  }

  /** Labels and error slots follow the row's position (what the API's `matchers.<index>` names). */
  renumber() {
    [...this.list.children].forEach((row, index) => {
      const n = index + 1;
      const id = `${this.idPrefix}-${index}`;
      row.querySelector(".m-name").setAttribute("aria-label", `${this.noun} ${n} name`);
      row.querySelector(".m-type").setAttribute("aria-label", `${this.noun} ${n} operator`);
      row.querySelector(".m-value").setAttribute("aria-label", `${this.noun} ${n} value`);
      row.querySelector(".m-remove").setAttribute("aria-label", `Remove ${this.noun.toLowerCase()} ${n}`);
      const error = row.querySelector(".m-error");
      error.id = `${id}-error`;
      error.dataset.errorFor = `${this.loc}.${index}`;
      for (const input of row.querySelectorAll("input, select")) input.setAttribute("aria-describedby", error.id);
    });
  }
}
