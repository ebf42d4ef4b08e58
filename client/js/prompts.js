// One prompt as a list item: severity and kind, time, text, the words that triggered it, rule and source.
import { clock, h, kindLabel, severityLabel } from "./dom.js";
import { t } from "./i18n.js";

export function ruleLine(p) {
  const parts = [];
  if (p.rule) parts.push(t("alert.rule", { rule: p.rule }));
  if (p.source) parts.push(t("alert.source", { source: p.source }));
  return parts.length ? h("p", { class: "rule" }, parts.join(" · ")) : null;
}

export function promptItem(p, ...extra) {
  const quiet = p.severity === "info";
  return h("li", { class: `prompt sev-${p.severity} kind-${p.kind}`, dataset: { promptId: p.prompt_id } },
    h("header", {}, h("span", { class: "tag" }, `${severityLabel(p.severity)} · ${kindLabel(p.kind)}`), h("time", {}, clock(p.created_at))),
    h("p", { class: "text" }, p.text),
    !quiet && p.evidence && p.evidence.quote ? h("blockquote", {}, p.evidence.quote) : null,
    quiet ? null : ruleLine(p),
    ...extra);
}
