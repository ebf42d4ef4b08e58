// @ts-check
// Small DOM and formatting helpers shared by the pages.
import { lang, t } from "./i18n.js";
import { level } from "./severity.js";

/**
 * h("div", {class: "x", onclick: fn}, child, "text", ...)
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...any} children nodes, strings, arrays of them; null/undefined/false are skipped
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") /** @type {HTMLInputElement} */ (el).value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/**
 * @param {number | string | null | undefined} amount
 * @param {string} [currency]
 */
export function money(amount, currency = "CNY") {
  if (amount === null || amount === undefined) return "-";
  try {
    return new Intl.NumberFormat(lang(), { style: "currency", currency, maximumFractionDigits: 2 }).format(Number(amount));
  } catch {
    return `${amount}`;
  }
}

/** @param {string | null | undefined} iso */
export function clock(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  return d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** @param {string | null | undefined} iso */
export function dateTime(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  return d.toLocaleString(lang(), { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
}

/**
 * A calendar date (YYYY-MM-DD) in the page's language: 2026年12月3日, Dec 3, 2026; "" if it is not a date.
 * @param {string | null | undefined} ymd
 */
export function longDate(ymd) {
  const m = ymd ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd) : null;
  if (!m) return "";
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleDateString(lang(), { year: "numeric", month: lang() === "zh-CN" ? "long" : "short", day: "numeric", timeZone: "UTC" });
}

/**
 * Seconds -> "m:ss" or "h:mm:ss".
 * @param {number} seconds
 */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/**
 * The word for a severity on the one scale (severity.js), the same on every page.
 * @param {string | null | undefined} sev
 */
export function severityLabel(sev) {
  return t(`severity.${level(sev)}`);
}

/** @param {string} kind */
export function kindLabel(kind) {
  const key = `kind.${kind}`;
  const s = t(key);
  return s === key ? kind : s;
}

// server clock minus ours, from the snapshot (countdowns use server time)
let offset = 0;
/** @param {string} iso */
export function setServerTime(iso) {
  offset = new Date(iso).getTime() - Date.now();
}
export function serverNow() {
  return Date.now() + offset;
}

/**
 * Remember when each prompt first reached the DOM (read by bench/ui_latency.py).
 * @param {Iterable<string>} promptIds
 */
export function markSeen(promptIds) {
  const w = /** @type {any} */ (window);
  const m = (w.__assist ||= { seen: {} });
  const now = performance.timeOrigin + performance.now();
  for (const id of promptIds) if (!(id in m.seen)) m.seen[id] = now;
}

/**
 * Replace an element's children, skipping the null/false left by conditionals.
 * @param {Element} el
 * @param {...any} children
 */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
