// The Silences page's form: the matcher editor, start and duration (or end), author, comment, an optional weekly
// window, and a live preview of the open events the matchers match now (POST /cep/silences/preview, debounced).
// A link `/cep-silences?matcher=alertname=disk_full&matcher=host=db-1&event=<id>` fills it ("Silence this").
import { ApiError, api, el, getToken, whoami } from "./api.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { fromLocalInput, labelChips } from "./format.js";
import { MatcherRows } from "./matcher-rows.js";

const PREVIEW_DELAY_MS = 300;
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/** `name=value` (a link's `matcher` parameter) -> an equality matcher; the name ends at the first `=`. */
export function linkMatcher(text) {
  const at = text.indexOf("=");
  return at > 0 ? { name: text.slice(0, at), type: "=", value: text.slice(at + 1) } : null;
}

export class SilenceForm {
  constructor(form, { preview, onCreated }) {
    this.form = form;
    this.previewBox = preview;
    this.onCreated = onCreated;
    this.problem = form.querySelector("#silence-problem");
    this.timer = null;
    this.previewSeq = 0;
    this.matchers = new MatcherRows(form.querySelector("#matcher-rows"), { onChange: () => this.schedulePreview() });
    this.matchers.set([]);
    this.weekdays();
    form.querySelector("#s-recurring").addEventListener("change", (e) => {
      form.querySelector("#recurrence-fields").hidden = !e.target.checked;
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.create();
    });
    form.querySelector("#reset-silence").addEventListener("click", () => this.reset());
    this.defaultAuthor();
  }

  weekdays() {
    const box = this.form.querySelector("#s-weekdays");
    box.replaceChildren(...WEEKDAYS.map((day) => el("label", { class: "switch" },
      el("input", { type: "checkbox", value: day, class: "s-weekday" }), day.slice(0, 3))));
  }

  async defaultAuthor() {
    const author = this.form.querySelector("#s-author");
    const me = await whoami();
    if (me && !author.value) author.value = me.name;
  }

  /** The token changed: a new author default and a new preview. */
  refresh() {
    this.form.querySelector("#s-author").value = "";
    this.defaultAuthor();
    this.schedulePreview();
  }

  /** Fill the matchers from a link's `matcher` parameters; `event` says which event it silences. */
  prefill(params) {
    const matchers = params.getAll("matcher").map(linkMatcher).filter(Boolean);
    if (!matchers.length) return;
    this.matchers.set(matchers);
    const event = params.get("event");
    const origin = this.form.querySelector("#silence-origin");
    origin.hidden = !event;
    origin.textContent = event ? `Silencing event ${params.get("rule") || ""} (${event}): check the matchers, add a comment.` : "";
    const comment = this.form.querySelector("#s-comment");
    if (event && !comment.value) comment.value = `Silenced from the event ${params.get("rule") || event}`;
    comment.focus();
    this.schedulePreview();
  }

  reset() {
    this.form.reset();
    this.matchers.set([]);
    this.form.querySelector("#silence-origin").hidden = true;
    this.form.querySelector("#recurrence-fields").hidden = true;
    clearFieldErrors(this.form, this.problem);
    this.defaultAuthor();
    this.schedulePreview();
  }

  body() {
    const value = (id) => this.form.querySelector(id).value.trim();
    const body = { matchers: this.matchers.value(), comment: value("#s-comment") };
    if (value("#s-start")) body.starts_at = fromLocalInput(value("#s-start"));
    if (value("#s-author")) body.created_by = value("#s-author");
    if (this.form.querySelector("#s-recurring").checked) {
      const days = [...this.form.querySelectorAll(".s-weekday:checked")].map((box) => box.value);
      const window = { times: [{ start_time: value("#s-from"), end_time: value("#s-until") }] };
      if (days.length) window.weekdays = days;
      body.recurrence = { timezone: value("#s-timezone") || "UTC", windows: [window] };
      if (value("#s-end")) body.ends_at = fromLocalInput(value("#s-end"));
    } else if (value("#s-end")) {
      body.ends_at = fromLocalInput(value("#s-end"));
    } else {
      body.duration = value("#s-duration");
    }
    return body;
  }

  async create() {
    const body = this.body();
    if (!body.comment) { // the API takes an empty comment; amtool (and this form) ask for one
      const missing = { loc: ["comment"], msg: "required: say why (a ticket, the maintenance)" };
      showFieldErrors(this.form, new ApiError(422, { title: "Invalid silence", errors: [missing] }), this.problem);
      this.form.querySelector("#s-comment").focus();
      return;
    }
    try {
      const created = await api("/cep/silences", { method: "POST", body });
      this.reset();
      this.form.querySelector("#silence-origin").hidden = false;
      this.form.querySelector("#silence-origin").textContent = `Created silence ${created.silence_id} (${created.state}).`;
      await this.onCreated(created);
    } catch (err) {
      showFieldErrors(this.form, err, this.problem);
    }
  }

  schedulePreview() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.preview(), PREVIEW_DELAY_MS);
  }

  async preview() {
    const seq = ++this.previewSeq;
    const matchers = this.matchers.value();
    if (!matchers.length || !getToken()) {
      this.previewBox.replaceChildren(el("p", { class: "muted", text: "Add a matcher to see the open events it matches." }));
      return;
    }
    try {
      const found = await api("/cep/silences/preview", { method: "POST", body: { matchers } });
      if (seq !== this.previewSeq) return; // a newer preview is on its way
      clearFieldErrors(this.form.querySelector("#matcher-rows"));
      this.previewBox.replaceChildren(...previewList(found));
    } catch (err) {
      if (seq !== this.previewSeq) return;
      showFieldErrors(this.form.querySelector("#matcher-rows"), err, this.problem);
      this.previewBox.replaceChildren(el("p", { class: "muted", text: "Fix the matchers to see a preview." }));
    }
  }
}

function previewList(found) {
  const count = el("p", { id: "preview-count", text: found.total === 0 ? "No open event matches."
    : `${found.total} open event${found.total === 1 ? "" : "s"} would be silenced${found.truncated ? " (of the newest read)" : ""}.` });
  const items = found.events.map((event) => el("li", { "data-id": event.event_id },
    el("a", { href: `/cep-events?event=${encodeURIComponent(event.event_id)}`, text: event.rule_name }), " ",
    labelChips(event.labels, { all: false })));
  return [count, el("ul", { class: "preview-list", id: "preview-events" }, items)];
}
