// Small DOM and formatting helpers shared by the pages.
import { lang, t } from "./i18n.js";

// h("div", {class: "x", onclick: fn}, child, "text", ...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function money(amount, currency = "CNY") {
  if (amount === null || amount === undefined) return "-";
  try {
    return new Intl.NumberFormat(lang(), { style: "currency", currency, maximumFractionDigits: 2 }).format(amount);
  } catch {
    return `${amount}`;
  }
}

export function clock(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  return d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function dateTime(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  return d.toLocaleString(lang(), { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
}

// seconds -> "m:ss" or "h:mm:ss"
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function severityLabel(sev) {
  return t(`severity.${sev}`);
}

export function kindLabel(kind) {
  const key = `kind.${kind}`;
  const s = t(key);
  return s === key ? kind : s;
}

// server clock minus ours, from the snapshot (countdowns use server time)
let offset = 0;
export function setServerTime(iso) {
  offset = new Date(iso).getTime() - Date.now();
}
export function serverNow() {
  return Date.now() + offset;
}

// remember when each prompt first reached the DOM (read by bench/ui_latency.py)
export function markSeen(promptIds) {
  const m = (window.__assist ||= { seen: {} });
  const now = performance.timeOrigin + performance.now();
  for (const id of promptIds) if (!(id in m.seen)) m.seen[id] = now;
}

// replace an element's children, skipping the null/false left by conditionals
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
