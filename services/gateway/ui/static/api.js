// Shared browser helpers of the CEP UI: the API token, fetch with the bearer token, problem+json display, SSE.
// Pages import what they need: `import { api, showProblem } from "./api.js";`

const TOKEN_KEY = "cep.token";
// "session" when the gateway signs users in through an OpenID provider (the page says so): then the browser's
// session cookie authenticates every call, changes carry the session's CSRF token, and no pasted token is sent.
export const AUTH_MODE = document.documentElement.dataset.auth === "session" ? "session" : "token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The API token the user entered (kept in localStorage), or "". With sign-in, "session" while signed in (a marker
 * that nothing is sent with: the cookie is). */
export function getToken() {
  if (AUTH_MODE === "session") return document.documentElement.dataset.signedIn ? "session" : "";
  return localStorage.getItem(TOKEN_KEY) || "";
}

/** The session's CSRF token (from the page), sent as X-CSRF-Token on every change made with the session. */
function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/** Keep a token for every page; an empty one forgets it. Tells the page (event "cep:token"). */
export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new CustomEvent("cep:token", { detail: { token } }));
}

/** An answer that was not 2xx: `status` and the problem+json body (`title`, `detail`, `errors`). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * Call the API: `await api("/cep/rules", { method: "POST", body: {...} })` -> the parsed JSON (null for 204).
 * A non-2xx answer throws ApiError; a network failure throws ApiError with status 0.
 */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (AUTH_MODE === "session") {
    if (!SAFE_METHODS.has(method.toUpperCase())) init.headers["X-CSRF-Token"] = csrfToken();
  } else if (getToken()) {
    init.headers.Authorization = `Bearer ${getToken()}`;
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: `the gateway did not answer (${err.message})`, errors: [] });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { title: response.statusText, detail: text.slice(0, 300), errors: [] };
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : { title: response.statusText, errors: [] };
    const remedy = AUTH_MODE === "session" ? "sign in again (top right)" : "enter a valid API token above";
    if (response.status === 401) problem.detail = `${problem.detail || "unauthorized"}: ${remedy}`;
    throw new ApiError(response.status, problem);
  }
  return data;
}

/** Build an element: `el("td", { class: "num", text: "3" }, child, ...)`. Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * Show an error in the page's alert region (or `target`): the problem's title, detail and each field error
 * (`trigger_spec.threshold: ...`). Anything that is not an ApiError is shown by its message.
 */
export function showProblem(err, target = document.getElementById("problem")) {
  const problem = err instanceof ApiError ? err.problem : { title: "Error", detail: String(err?.message || err) };
  const status = err instanceof ApiError && err.status ? ` (${err.status})` : "";
  target.replaceChildren(
    el("strong", { text: `${problem.title || "Error"}${status}` }),
    problem.detail ? el("span", { class: "detail", text: ` ${problem.detail}` }) : null,
  );
  const errors = problem.errors || [];
  if (errors.length) {
    target.append(el("ul", {}, errors.map((e) => el("li", { text: `${(e.loc || []).join(".") || "(body)"}: ${e.msg}` }))));
  }
  target.append(el("button", { type: "button", class: "link", text: "Dismiss", onclick: () => clearProblem(target) }));
  target.hidden = false;
  return problem;
}

/** Hide the alert region (or `target`). */
export function clearProblem(target = document.getElementById("problem")) {
  target.hidden = true;
  target.replaceChildren();
}

/**
 * Follow a server-sent-events route (EventSource). EventSource cannot send headers, and a URL ends up in proxy
 * logs and the browser's history, so each connection first asks for a short-lived single-use ticket
 * (`POST <path>/ticket` with the bearer token) and opens `<path>?ticket=...`; the API token is never in a URL.
 * `kinds` are the `event:` names to listen to; `onMessage(kind, data, id)` gets parsed JSON; `onState(state)` gets
 * "connecting", "open" or "reconnecting". On an error it reconnects with back-off (1 s doubling to 30 s) and
 * resumes after the last `id:` it saw (`last_event_id`); when the tab becomes visible again or the browser comes
 * back online it reconnects at once. Returns `{ close() }`.
 */
export function openStream(path, { kinds, onMessage, onState = () => {} }) {
  let source = null;
  let lastId = null;
  let delay = 1000;
  let timer = null;
  let closed = false;
  let connecting = false;

  function retry() {
    if (closed) return;
    onState("reconnecting");
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }

  async function connect() {
    clearTimeout(timer);
    if (closed || connecting) return;
    connecting = true;
    onState("connecting");
    let ticket;
    try {
      ticket = (await api(`${path}/ticket`, { method: "POST" })).ticket;
    } catch {
      ticket = null;
    } finally {
      connecting = false;
    }
    if (closed) return;
    if (!ticket) {
      retry();
      return;
    }
    const url = new URL(path, location.origin);
    url.searchParams.set("ticket", ticket);
    if (lastId !== null) url.searchParams.set("last_event_id", lastId);
    source = new EventSource(url);
    source.onopen = () => {
      delay = 1000;
      onState("open");
    };
    for (const kind of kinds) {
      source.addEventListener(kind, (message) => {
        if (message.lastEventId) lastId = message.lastEventId;
        onMessage(kind, JSON.parse(message.data), message.lastEventId);
      });
    }
    source.onerror = () => {
      source.close(); // a ticket opens one connection: the next one asks for a new ticket
      retry();
    };
  }

  function onVisible() {
    if (document.visibilityState !== "visible" || connecting) return;
    if (source && source.readyState === EventSource.CLOSED) connect();
  }

  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", onVisible); // the network is back: reconnect now, not after the back-off
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
      window.removeEventListener("online", onVisible);
      if (source) source.close();
    },
  };
}

/** The caller (`GET /cep/auth/whoami`), or null without a valid token. Cached per page load and token. */
let whoamiCache = null;
export function whoami() {
  const token = getToken();
  if (!token) return Promise.resolve(null);
  if (!whoamiCache || whoamiCache.token !== token) {
    whoamiCache = { token, promise: api("/cep/auth/whoami").catch(() => null) };
  }
  return whoamiCache.promise;
}

/** "3 min ago" style text for an RFC 3339 time (empty for null). */
export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}
