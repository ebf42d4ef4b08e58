// The sign-in page: labels in the chosen language, the page to return to, and why the last try failed.
import { chosenLang, langSelect, loadLang, t } from "./i18n.js";

const params = new URLSearchParams(location.search);
const error = params.get("error");

function showError() {
  const box = document.getElementById("login-error");
  box.hidden = !error;
  if (error) box.textContent = t(`auth.error.${error}`);
}

document.getElementById("next").value = params.get("next") || "";
await loadLang(chosenLang());
langSelect(document.getElementById("lang"), showError);
showError();
