// The layout's part of every page: the token form (or, with OIDC sign-in, "Sign out") and the "tenant · role" badge.
import { AUTH_MODE, api, clearProblem, getToken, setToken, showProblem, whoami } from "./api.js";

const form = document.getElementById("token-form");
const input = document.getElementById("api-token");
const badge = document.getElementById("whoami");

async function showCaller() {
  const me = await whoami();
  if (me) {
    badge.textContent = `${me.tenant} · ${me.role}${me.platform_admin ? " (platform admin)" : ""}`;
    badge.dataset.state = "ok";
  } else {
    const refused = AUTH_MODE === "session" ? "session expired" : "token not accepted";
    badge.textContent = getToken() ? refused : "not signed in";
    badge.dataset.state = getToken() ? "bad" : "none";
  }
}

if (AUTH_MODE === "token") {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    input.value = "";
  });
  document.getElementById("token-forget").addEventListener("click", () => setToken(""));
}
document.getElementById("sign-out")?.addEventListener("click", async () => {
  try {
    await api("/cep/auth/logout", { method: "POST" });
  } catch (err) {
    showProblem(err);
    return;
  }
  location.reload();
});
window.addEventListener("cep:token", () => {
  clearProblem(); // a problem shown under the old token (a 401, typically) no longer applies
  showCaller();
});
showCaller();
