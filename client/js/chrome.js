// @ts-check
// The bar on top of both pages: who is signed in, the connection state, the language, sign out; errors.
import { langSelect, t } from "./i18n.js";

/** @type {[string, number?]} */
let lastStatus = ["connecting"];

/** @param {() => void} onLang re-render what data-i18n does not cover */
export function setupChrome(onLang) {
  langSelect(/** @type {HTMLSelectElement} */ (document.getElementById("lang")), () => {
    showStatus(...lastStatus);
    onLang();
  });
}

/** @param {{name: string, display_name?: string | null}} user */
export function showUser(user) {
  /** @type {HTMLElement} */ (document.getElementById("who")).textContent = user.display_name || user.name;
}

/** @param {string} state connecting, open or reconnecting @param {number} [retryMs] */
export function showStatus(state, retryMs) {
  lastStatus = [state, retryMs];
  const el = /** @type {HTMLElement} */ (document.getElementById("conn"));
  el.dataset.state = state;
  el.textContent = state === "reconnecting" ? t("conn.reconnecting", { s: Math.ceil((retryMs || 0) / 1000) }) : t(`conn.${state}`);
}

/** @param {string} message */
export function showError(message) {
  const box = /** @type {HTMLElement} */ (document.getElementById("error"));
  box.hidden = false;
  /** @type {HTMLElement} */ (box.querySelector(".text")).textContent = message;
}

export function setupErrorBox() {
  const box = /** @type {HTMLElement} */ (document.getElementById("error"));
  /** @type {HTMLElement} */ (box.querySelector("button")).addEventListener("click", () => { box.hidden = true; });
}
