// The labels and annotations editors of /cep-builder: rows of name and value, added and removed.
// They read as the form's `labels` / `annotations` rows ([{name, value}]); the server turns them into objects,
// drops blank rows and names a bad one (`labels.<name>`).
import { el } from "./api.js";

/** An editor of name/value rows; `prefix` makes the ids (`label1-name`), `noun` the labels ("Label 1 name"). */
export class PairsEditor {
  constructor(box, addButton, { prefix, noun, valueHint }) {
    this.box = box;
    this.addButton = addButton;
    this.prefix = prefix;
    this.noun = noun;
    this.valueHint = valueHint;
    this.rows = [];
    this.counter = 0;
    this.onchange = () => {};
    addButton.addEventListener("click", () => {
      this.add().name.focus();
      this.onchange();
    });
  }

  /** Show the pairs of an object (a rule's `labels` or `annotations`). */
  set(pairs) {
    this.box.replaceChildren();
    this.rows = [];
    this.counter = 0;
    for (const [name, value] of Object.entries(pairs || {})) this.add(name, value);
  }

  add(name = "", value = "") {
    const n = ++this.counter;
    const id = `${this.prefix}${n}`;
    const nameInput = el("input", { id: `${id}-name`, placeholder: "e.g. team", autocomplete: "off" });
    nameInput.value = name;
    const valueInput = el("input", { id: `${id}-value`, placeholder: this.valueHint, autocomplete: "off" });
    valueInput.value = value;
    const row = { name: nameInput, value: valueInput };
    const remove = el("button", { type: "button", class: "secondary small", text: "Remove", "aria-label": `Remove ${this.noun.toLowerCase()} ${n}` });
    const line = el("div", { class: "fields" },
      el("div", { class: "field" }, el("label", { for: nameInput.id, text: `${this.noun} ${n} name` }), nameInput),
      el("div", { class: "field" }, el("label", { for: valueInput.id, text: `${this.noun} ${n} value` }), valueInput),
      el("div", { class: "field" }, el("span", { class: "label", text: "\u00a0" }), remove));
    remove.addEventListener("click", () => {
      this.rows = this.rows.filter((r) => r !== row);
      line.remove();
      this.addButton.focus(); // the focus never falls back to the page's top
      this.onchange();
    });
    this.rows.push(row);
    this.box.append(line);
    return row;
  }

  /** The rows as the form body sends them. */
  read() {
    return this.rows.map((r) => ({ name: r.name.value.trim(), value: r.value.value }));
  }
}
