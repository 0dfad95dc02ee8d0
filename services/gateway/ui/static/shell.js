// The layout's part of every page: the token form and the "tenant · role" badge.
import { clearProblem, getToken, setToken, whoami } from "./api.js";

const form = document.getElementById("token-form");
const input = document.getElementById("api-token");
const badge = document.getElementById("whoami");

async function showCaller() {
  const me = await whoami();
  if (me) {
    badge.textContent = `${me.tenant} · ${me.role}${me.platform_admin ? " (platform admin)" : ""}`;
    badge.dataset.state = "ok";
  } else {
    badge.textContent = getToken() ? "token not accepted" : "not signed in";
    badge.dataset.state = getToken() ? "bad" : "none";
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  setToken(input.value.trim());
  input.value = "";
});
document.getElementById("token-forget").addEventListener("click", () => setToken(""));
window.addEventListener("cep:token", () => {
  clearProblem(); // a problem shown under the old token (a 401, typically) no longer applies
  showCaller();
});
showCaller();
