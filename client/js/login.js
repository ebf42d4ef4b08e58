// @ts-check
// The sign-in page: labels in the chosen language, the page to return to, why the last try failed, and the
// name typed then (only the password is asked again).
import { chosenLang, langSelect, loadLang, t } from "./i18n.js";

const params = new URLSearchParams(location.search);
const error = params.get("error");

function showError() {
  const box = /** @type {HTMLElement} */ (document.getElementById("login-error"));
  box.hidden = !error;
  if (error) box.textContent = t(`auth.error.${error}`);
}

/** @type {HTMLInputElement} */ (document.getElementById("next")).value = params.get("next") || "";
const name = params.get("name");
if (name) {
  /** @type {HTMLInputElement} */ (document.querySelector("input[name=name]")).value = name;
  /** @type {HTMLInputElement} */ (document.querySelector("input[name=password]")).focus();
}
await loadLang(chosenLang());
langSelect(/** @type {HTMLSelectElement} */ (document.getElementById("lang")), showError);
showError();
