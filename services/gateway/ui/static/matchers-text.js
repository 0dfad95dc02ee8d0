// Matchers as amtool writes them, for lists: `alertname="disk_full", host=~"db-.*"`.

/** The matchers `[{name, type, value}]` as one line of text. */
export function matchersText(matchers) {
  return (matchers || []).map((m) => `${m.name}${m.type}${JSON.stringify(m.value)}`).join(", ");
}
