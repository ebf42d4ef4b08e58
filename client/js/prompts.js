// @ts-check
// One prompt as a list item: severity and kind, time, text; the words that triggered it, the rule and its source
// fold out on demand (<details>), and a quote already in the text is not repeated.
import { clock, h, kindLabel, severityLabel } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {import("./callstate.js").Prompt} Prompt */

/** @param {Prompt} p */
export function ruleLine(p) {
  const parts = [];
  if (p.rule) parts.push(t("alert.rule", { rule: p.rule }));
  if (p.source) parts.push(t("alert.source", { source: p.source }));
  return parts.length ? h("p", { class: "rule" }, parts.join(" · ")) : null;
}

/**
 * The quote that triggered a prompt, unless the prompt's text already says it.
 * @param {Prompt} p
 */
export function quoteOf(p) {
  const q = p.evidence && p.evidence.quote ? p.evidence.quote.trim() : "";
  return q && !p.text.includes(q) ? q : null;
}

/**
 * Citations and evidence, folded: null when there is nothing to fold.
 * @param {Prompt} p
 */
export function detailsOf(p) {
  const quote = quoteOf(p);
  const rule = ruleLine(p);
  if (!quote && !rule) return null;
  return h("details", { class: "why" }, h("summary", {}, t("alert.details")),
    quote ? h("blockquote", {}, quote) : null, rule);
}

/**
 * @param {Prompt} p
 * @param {...(Node | string | null)} extra
 */
export function promptItem(p, ...extra) {
  const quiet = p.severity === "info";
  return h("li", { class: `prompt sev-${p.severity} kind-${p.kind}`, dataset: { promptId: p.prompt_id } },
    h("header", {}, h("span", { class: "tag" }, `${severityLabel(p.severity)} · ${kindLabel(p.kind)}`), h("time", {}, clock(p.created_at))),
    h("p", { class: "text" }, p.text),
    quiet ? null : detailsOf(p),
    ...extra);
}
