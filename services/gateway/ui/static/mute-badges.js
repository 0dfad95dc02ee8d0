// The "silenced" and "inhibited" badges of an event, from `silenced_by` (silence ids) and `inhibited_by` (the ids of
// the events that inhibit it); nothing when the event has neither (or the API does not report them).
import { el } from "./api.js";

/** Zero, one or two `.badge.badge-muted` elements; the title says by what. */
export function muteBadges(event) {
  const out = [];
  const silenced = event.silenced_by || [];
  const inhibited = event.inhibited_by || [];
  if (silenced.length) out.push(el("span", { class: "badge badge-muted", text: "silenced", title: `silenced by ${silenced.join(", ")}` }));
  if (inhibited.length) out.push(el("span", { class: "badge badge-muted", text: "inhibited", title: `inhibited by ${inhibited.join(", ")}` }));
  return out;
}
