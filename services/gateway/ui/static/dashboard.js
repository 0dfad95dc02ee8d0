// /cep-dashboard: the daily and weekly figures of GET /cep/stats/daily and /weekly, small charts, and every
// figure a link to /cep-events with the filters that list the events behind it.
import { api, el, getToken, showProblem } from "./api.js";
import { dayBars, eventsLink, rankBars } from "./dashboard-charts.js";
import { duration, percent, utc } from "./format.js";

const $ = (id) => document.getElementById(id);

/** One figure card: a big value linking to its events, a label, and a line of detail. */
function card(id, label, value, figure, detail = "", tone = "") {
  return el("div", { class: `figure ${tone}`.trim(), id },
    el("a", { href: eventsLink(figure), class: "figure-value", "aria-label": `${label}: ${value}. List the ${figure.events} events` }, value),
    el("div", { class: "figure-label", text: label }),
    detail ? el("div", { class: "figure-detail muted", text: detail }) : null);
}

function range() {
  const days = Number($("range").value);
  const now = new Date();
  const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
  return { since: since.toISOString().replace(".000Z", "Z") };
}

function renderDaily(daily) {
  const scheduler = daily.scheduler;
  const precision = daily.anomaly_precision;
  const backlog = daily.ack_backlog;
  const failed = daily.failed_notifications;
  $("daily-figures").replaceChildren(
    card("fig-events", "Events fired", String(daily.events.value), daily.events),
    card("fig-backlog", "ACK backlog (open, not acknowledged)", String(backlog.value), backlog,
      backlog.oldest_fired_at ? `oldest fired ${utc(backlog.oldest_fired_at)} UTC` : "nothing waiting", backlog.value ? "warn" : ""),
    card("fig-failed", "Failed notifications", String(failed.value), failed, `on ${failed.events} events`, failed.value ? "bad" : ""),
    card("fig-scheduler", `Scheduler: ${scheduler.healthy ? "healthy" : "attention"}`, `${scheduler.runs} runs`, scheduler.schedule_events,
      [`${scheduler.missed_runs} missed, ${scheduler.late_runs} late`, scheduler.delay_p99_ms === null ? "" : `p99 delay ${Math.round(scheduler.delay_p99_ms)} ms`,
        ...scheduler.reasons].filter(Boolean).join(" · "), scheduler.healthy ? "ok" : "warn"),
    card("fig-precision", "Anomaly precision (feedback)", percent(precision.value), precision,
      `${precision.true_positive} true, ${precision.false_positive} false positives`));
  const days = daily.days.map((d) => ({
    label: d.day.slice(5),
    bars: [{ value: d.events.value, figure: d.events }, { value: d.failed_notifications.value, figure: d.failed_notifications }],
  }));
  $("daily-chart").replaceChildren(dayBars(days, [
    { name: "events", className: "s-events" },
    { name: "failed notifications", className: "s-failed" },
  ]));
}

function renderWeekly(weekly) {
  const mtta = weekly.mean_time_to_acknowledge;
  const mttr = weekly.mean_time_to_recover;
  $("weekly-figures").replaceChildren(
    card("fig-mtta", "Mean time to acknowledge", mtta.value === null ? "n/a" : duration(mtta.value), mtta, `over ${mtta.events} acknowledged events`),
    card("fig-mttr", "Mean time to recover", mttr.value === null ? "n/a" : duration(mttr.value), mttr, `over ${mttr.events} resolved events`));
  $("top-firings").replaceChildren(rankBars(
    weekly.top_rules_by_firings.map((r) => ({ label: r.rule_name, value: r.value, text: `${r.value} events`, figure: r })),
    "No rule fired in this range."));
  $("top-false-positives").replaceChildren(rankBars(
    weekly.top_rules_by_false_positives.map((r) => ({ label: r.rule_name, value: r.value, text: `${r.value} false positives`, figure: r })),
    "No event was labelled a false positive in this range."));
  $("channel-rates").tBodies[0].replaceChildren(...weekly.channel_failure_rates.map((c) => el("tr", {},
    el("td", { text: c.name }),
    el("td", { class: "num", text: String(c.sent) }),
    el("td", { class: "num", text: String(c.failed) }),
    el("td", {}, el("span", { class: "rate" }, el("span", { class: "rate-bar", style: `width: ${Math.round((c.value || 0) * 100)}%` })), ` ${percent(c.value)}`),
    el("td", {}, c.events ? el("a", { href: eventsLink(c), text: `${c.events} events` }) : el("span", { class: "muted", text: "none" })))));
}

async function load() {
  if (!getToken()) {
    $("range-text").textContent = "Enter an API token above to see the tenant's figures.";
    return;
  }
  const params = new URLSearchParams(range());
  try {
    const [daily, weekly] = await Promise.all([api(`/cep/stats/daily?${params}`), api(`/cep/stats/weekly?${params}`)]);
    $("range-text").textContent = `${utc(daily.since)} to ${utc(daily.until)} UTC`;
    renderDaily(daily);
    renderWeekly(weekly);
  } catch (err) {
    showProblem(err);
  }
}

$("range-form").addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
$("range").addEventListener("change", load);
window.addEventListener("cep:token", load);
load();
