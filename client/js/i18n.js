// @ts-check
// Labels from the message files (client/i18n/<lang>.json); zh-CN by default, en-US selectable.
// Elements carry data-i18n="key" (text), data-i18n-placeholder / data-i18n-title / data-i18n-aria-label.

export const LANGS = ["zh-CN", "en-US"];
const KEY = "assist.lang";
/** @type {Record<string, string>} */
let messages = {};
let current = "zh-CN";

/** The language asked for in the URL (?lang=), else the one remembered, else zh-CN. */
export function chosenLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q && LANGS.includes(q)) return q;
  const saved = localStorage.getItem(KEY);
  return saved && LANGS.includes(saved) ? saved : "zh-CN";
}

export function lang() {
  return current;
}

/** @param {string} code */
export async function loadLang(code) {
  const res = await fetch(`/static/i18n/${code}.json`, { cache: "no-cache" });
  if (!res.ok) throw new Error(`cannot load labels ${code}: HTTP ${res.status}`);
  messages = await res.json();
  current = code;
  document.documentElement.lang = code;
  applyI18n(document);
}

/** @param {string} code */
export async function setLang(code) {
  localStorage.setItem(KEY, code);
  await loadLang(code);
}

/**
 * The label of `key` with its {name} placeholders filled; the key itself when there is no such label.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars = {}) {
  const s = messages[key];
  if (s === undefined) return key;
  return s.replace(/\{(\w+)\}/g, (/** @type {string} */ m, /** @type {string} */ name) => (name in vars ? String(vars[name]) : m));
}

/** @param {string} key */
export function has(key) {
  return key in messages;
}

/** @param {ParentNode} root */
export function applyI18n(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(/** @type {HTMLElement} */ (el).dataset.i18n || "");
  for (const attr of ["placeholder", "title", "aria-label"]) {
    const data = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data) || ""));
  }
}

// a <select> that switches the language; `onChange` re-renders what is not marked with data-i18n
/** @param {HTMLSelectElement} select @param {() => void} onChange */
export function langSelect(select, onChange) {
  select.replaceChildren(...LANGS.map((code) => new Option(t(`lang.${code}`), code, false, code === current)));
  select.addEventListener("change", async () => {
    await setLang(select.value);
    onChange();
  });
}
