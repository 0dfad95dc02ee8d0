// The config fields of a channel type (from GET /cep/channels/types) as labelled inputs, and the config they hold.
// Secrets are write-only: their inputs start empty; left empty on an edit, the stored value is kept.
import { el } from "./api.js";

function inputFor(field, id, value, secretSet) {
  const common = { id, name: field.name, "aria-describedby": `${id}-hint` };
  if (field.kind === "choice") {
    const options = field.required ? [] : [el("option", { value: "", text: field.default ? `default (${field.default})` : "(none)" })];
    const select = el("select", common, options, field.choices.map((c) => el("option", { value: c, text: c })));
    select.value = value ?? "";
    return select;
  }
  if (field.kind === "bool") return el("input", { ...common, type: "checkbox", checked: value === true });
  if (field.kind === "headers" || field.kind === "template") {
    const headers = field.kind === "headers";
    const text = headers ? (value && Object.keys(value).length ? JSON.stringify(value) : "") : value || "";
    return el("textarea", { ...common, rows: "2", placeholder: headers ? '{"X-Team": "ops"}' : "" }, text);
  }
  const attrs = { ...common, value: Array.isArray(value) ? value.join(", ") : value ?? "" };
  if (field.secret) {
    return el("input", { ...attrs, type: "password", autocomplete: "new-password", value: "",
      placeholder: secretSet ? "set (leave empty to keep)" : "not set" });
  }
  if (field.kind === "int") return el("input", { ...attrs, type: "number", step: "1", placeholder: field.default ?? "" });
  return el("input", { ...attrs, type: field.kind === "url" ? "url" : "text", placeholder: field.default ?? "" });
}

/** Render the fields of `type` into `box`, filled from a stored channel's `config` and `secrets_set`. */
export function renderFields(box, type, config = {}, secretsSet = []) {
  box.replaceChildren(...type.fields.map((field) => {
    const id = `cfg-${field.name}`;
    const flags = [field.required ? "required" : "", field.secret ? "secret, write-only" : ""].filter(Boolean).join(", ");
    const input = inputFor(field, id, config[field.name], secretsSet.includes(field.name));
    const wide = field.kind === "headers" || field.kind === "template" || field.kind === "url";
    return el("div", { class: `field${wide ? " wide" : ""}` },
      el("label", { for: id, text: flags ? `${field.name} (${flags})` : field.name }),
      input,
      el("span", { class: "hint", id: `${id}-hint`, text: field.description || "" }));
  }));
}

function readValue(field, input) {
  if (field.kind === "bool") return input.checked;
  const raw = input.value.trim();
  if (raw === "") return undefined;
  if (field.kind === "int") return Number(raw);
  if (field.kind === "emails") return raw.split(/[,\s]+/).filter(Boolean);
  if (field.kind === "headers") {
    try {
      return JSON.parse(raw);
    } catch {
      return raw; // the API names the field in its 422
    }
  }
  return raw;
}

/** The config the inputs hold: empty fields are left out (server defaults; a stored secret is kept). */
export function readFields(box, type) {
  const config = {};
  for (const field of type.fields) {
    const input = box.querySelector(`#cfg-${CSS.escape(field.name)}`);
    if (!input) continue;
    const value = readValue(field, input);
    if (value !== undefined && !(field.kind === "bool" && value === false && field.default !== true)) config[field.name] = value;
  }
  return config;
}
