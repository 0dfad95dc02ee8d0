// Field errors of a 422 shown next to their fields: an element with `data-error-for="<loc>"` (e.g. `ends_at`,
// `matchers.0.value`) shows the errors of that field and of the fields under it that have no slot of their own
// (`matchers.0.value` lands in `matchers.0` when there is no `matchers.0.value` slot). Errors without any slot go
// to the form's own problem region, so nothing the API said is lost.
import { ApiError, showProblem } from "./api.js";

function slotFor(form, loc) {
  for (let n = loc.length; n > 0; n -= 1) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(loc.slice(0, n).join("."))}"]`);
    if (slot) return slot;
  }
  return null;
}

/** Hide every field error of `form` and its problem region `problem`. */
export function clearFieldErrors(form, problem) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (problem) problem.hidden = true;
}

/** Show an error: a 422's field errors next to their fields, anything else (and unplaced errors) in `problem`. */
export function showFieldErrors(form, err, problem) {
  clearFieldErrors(form, problem);
  const errors = err instanceof ApiError && err.status === 422 ? err.problem.errors || [] : [];
  const unplaced = [];
  for (const error of errors) {
    const loc = (error.loc || []).map(String);
    const slot = loc.length ? slotFor(form, loc) : null;
    if (!slot) {
      unplaced.push(error);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent}; ${error.msg}` : error.msg;
    slot.hidden = false;
    const field = slot.dataset.field ? form.querySelector(`#${slot.dataset.field}`) : null;
    if (field) field.setAttribute("aria-invalid", "true");
  }
  if (!errors.length || unplaced.length) {
    const shown = errors.length ? new ApiError(err.status, { ...err.problem, errors: unplaced }) : err;
    showProblem(shown, problem);
  }
}
