// The bar on top of both pages: who is signed in, the connection state, the language, sign out; errors.
import { langSelect, t } from "./i18n.js";

let lastStatus = ["connecting"];

export function setupChrome(onLang) {
  langSelect(document.getElementById("lang"), () => {
    showStatus(...lastStatus);
    onLang();
  });
}

export function showUser(user) {
  document.getElementById("who").textContent = user.display_name || user.name;
}

export function showStatus(state, retryMs) {
  lastStatus = [state, retryMs];
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.textContent = state === "reconnecting" ? t("conn.reconnecting", { s: Math.ceil(retryMs / 1000) }) : t(`conn.${state}`);
}

export function showError(message) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.querySelector(".text").textContent = message;
}

export function setupErrorBox() {
  const box = document.getElementById("error");
  box.querySelector("button").addEventListener("click", () => { box.hidden = true; });
}
