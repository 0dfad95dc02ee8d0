// Small inline-SVG charts for the dashboard (no chart library): grouped day bars and horizontal bars, every bar a
// link to the events behind it.
import { el } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** The /cep-events URL that lists a figure's events. */
export function eventsLink(figure) {
  return `/cep-events?${new URLSearchParams(figure.query)}`;
}

/**
 * Grouped bars per day: `days` = [{label, bars: [{value, figure, series}]}], `series` = [{name, className}].
 * Each bar is an SVG link to its figure's events, with a <title> for hover and screen readers.
 */
export function dayBars(days, series) {
  const width = 720;
  const height = 180;
  const top = 12;
  const bottom = 26;
  const left = 34;
  const max = Math.max(1, ...days.flatMap((d) => d.bars.map((b) => b.value || 0)));
  const slot = (width - left) / Math.max(1, days.length);
  const bar = Math.min(28, (slot - 10) / series.length);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img", "aria-label": series.map((s) => s.name).join(" and ") + " per day" });
  for (const tick of [0, Math.ceil(max / 2), max]) {
    chart.append(svg("line", { x1: left, x2: width, y1: y(tick), y2: y(tick), class: "grid" }),
      svg("text", { x: left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, tick));
  }
  days.forEach((day, i) => {
    const x0 = left + i * slot + (slot - bar * series.length) / 2;
    day.bars.forEach((b, j) => {
      const value = b.value || 0;
      const h = Math.max(value ? 2 : 0, y(0) - y(value));
      const link = svg("a", { href: eventsLink(b.figure), "aria-label": `${day.label}: ${value} ${series[j].name}` },
        svg("title", {}, `${day.label}: ${value} ${series[j].name}`),
        svg("rect", { x: x0 + j * bar, y: y(0) - h, width: bar - 2, height: h, class: series[j].className }));
      chart.append(link);
    });
    chart.append(svg("text", { x: left + i * slot + slot / 2, y: height - 8, class: "axis", "text-anchor": "middle" }, day.label));
  });
  const legend = el("p", { class: "legend" }, series.map((s) => el("span", { class: `key ${s.className}`, text: s.name })));
  return el("div", {}, chart, legend);
}

/** Horizontal bars, one per item: `items` = [{label, value, text, figure}]; the longest is the largest value. */
export function rankBars(items, emptyText) {
  if (!items.length) return el("p", { class: "muted", text: emptyText });
  const max = Math.max(1, ...items.map((i) => i.value || 0));
  return el("ol", { class: "rank" }, items.map((item) => el("li", {},
    el("a", { href: eventsLink(item.figure), "aria-label": `${item.label}: ${item.text}` },
      el("span", { class: "rank-label", text: item.label }),
      el("span", { class: "rank-bar", style: `width: ${Math.round((100 * (item.value || 0)) / max)}%` }),
      el("span", { class: "rank-value", text: item.text })))));
}
