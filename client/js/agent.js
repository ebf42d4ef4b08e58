// The agent sidebar: the current call's warnings, supervisor messages, account card, prompts, temperament,
// promise/plan helper, disclosure checklist and live transcript; after the call, the summary to review,
// edit and submit, with its CRM delivery state and the time left to the deadline.
import { CallState, isWarning } from "./callstate.js";
import { setupChrome, setupErrorBox, showError, showStatus, showUser } from "./chrome.js";
import { Connection } from "./connection.js";
import { clock, dateTime, duration, fill, h, kindLabel, markSeen, money, serverNow, setServerTime, severityLabel } from "./dom.js";
import { chosenLang, has, loadLang, t } from "./i18n.js";
import { promptItem, ruleLine } from "./prompts.js";
import { TranscriptView } from "./transcript.js";

const PANEL_KINDS = ["account_card", "temperament", "promise", "plan", "summary"];
const calls = new Map(); // call_id -> CallState
const requested = new URLSearchParams(location.search).get("call");
const dismissed = new Set(JSON.parse(sessionStorage.getItem("assist.dismissed") || "[]"));
let currentId = null;
const $ = (id) => document.getElementById(id);

function current() {
  return currentId ? calls.get(currentId) : null;
}

function stateFor(call) {
  let s = calls.get(call.call_id);
  if (!s) {
    s = new CallState(call);
    calls.set(call.call_id, s);
  } else {
    s.mergeCall(call);
  }
  return s;
}

function show(callId) {
  if (callId === currentId) return;
  currentId = callId;
  transcript.reset();
  promptEls.clear();
  summaryKey = null;
  dirty("all");
}

// ------------------------------------------------------------------ messages from the server

function onMessage(msg) {
  switch (msg.type) {
    case "snapshot": {
      setServerTime(msg.server_time);
      showUser(msg.user);
      for (const row of msg.live_calls) {
        const s = stateFor(row.call);
        for (const p of row.prompts) s.addPrompt(p);
      }
      if (msg.follow) {
        stateFor(msg.follow.call).mergeFollow(msg.follow);
        show(msg.follow.call.call_id);
      }
      dirty("all");
      break;
    }
    case "event": {
      const ev = msg.event;
      const s = calls.get(ev.call_id) || stateFor({ call_id: ev.call_id, status: "live" });
      const changed = s.applyEvent(ev);
      if (ev.type === "call_started" && !requested) show(ev.call_id);
      else if (!currentId) show(ev.call_id);
      if (changed && ev.call_id === currentId) {
        if (ev.type === "segment") dirty("transcript");
        else if (ev.type === "prompt") dirty(...sectionsOf(ev));
        else dirty("all");
      }
      break;
    }
    case "supervisor_message":
      if (stateFor({ call_id: msg.call_id }).addMessage(msg) && msg.call_id === currentId) dirty("messages");
      break;
    case "summary_draft":
      if (stateFor({ call_id: msg.call_id }).setSummary(msg) && msg.call_id === currentId) dirty("summary");
      break;
    case "delivery_state":
      if (stateFor({ call_id: msg.call_id }).setDelivery(msg) && msg.call_id === currentId) dirty("summary");
      break;
    case "error":
      showError(msg.status === 403 ? `${t("error.forbidden")} (${msg.message})` : t("error.generic", { message: msg.message }));
      if (msg.request === "edit_summary" || msg.request === "submit_summary") setBusy(false);
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------------ rendering (batched per task)

const pending = new Set();
let scheduled = false;

// the parts of the sidebar a prompt changes (re-rendering only those keeps a busy sidebar fast)
function sectionsOf(p) {
  if (isWarning(p)) return ["warnings", "prompts"];
  switch (p.kind) {
    case "account_card": return ["account"];
    case "temperament": return ["temperament"];
    case "promise":
    case "plan": return ["promise"];
    case "disclosure": return ["checklist", "prompts"];
    default: return ["prompts"];
  }
}

function dirty(...what) {
  for (const w of what) pending.add(w);
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(flush);
  }
}

function flush() {
  scheduled = false;
  const all = pending.has("all");
  const s = current();
  $("idle").hidden = Boolean(s);
  $("main").classList.toggle("has-call", Boolean(s));
  const want = (...names) => all || names.some((n) => pending.has(n));
  if (want("status")) renderStatus(s);
  if (want("warnings")) renderWarnings(s);
  if (want("account")) renderAccount(s);
  if (want("prompts")) renderPrompts(s);
  if (want("temperament")) renderTemperament(s);
  if (want("promise")) renderPromise(s);
  if (want("checklist", "summary")) renderChecklist(s);
  if (want("messages")) renderMessages(s);
  if (want("transcript")) renderTranscript(s);
  if (want("summary")) renderSummary(s);
  pending.clear();
  if (s) markSeen(s.prompts.keys());
}

function renderStatus(s) {
  const el = $("call-status");
  el.dataset.state = s ? s.call.status : "none";
  el.textContent = s ? t(`call.${s.call.status}`) : t("agent.no_call");
  $("timer").textContent = s && s.call.started_at ? duration(s.elapsed(serverNow())) : "";
}

function renderWarnings(s) {
  const list = s ? s.warnings().filter((p) => !dismissed.has(p.prompt_id)) : [];
  fill($("warnings"), ...list.map((p) => h("article", { class: `warning sev-${p.severity}`, dataset: { promptId: p.prompt_id } },
    h("header", {}, h("span", { class: "tag" }, `${severityLabel(p.severity)} · ${kindLabel(p.kind)}`), h("time", {}, clock(p.created_at))),
    h("p", { class: "text" }, p.text),
    ruleLine(p),
    h("button", { type: "button", class: "dismiss", onclick: () => dismiss(p.prompt_id) }, t("alert.dismiss")))));
  document.title = list.length ? `⚠ ${t("section.alerts")} · assist` : "assist";
}

function dismiss(promptId) {
  dismissed.add(promptId);
  sessionStorage.setItem("assist.dismissed", JSON.stringify([...dismissed]));
  dirty("warnings", "prompts");
}

function renderAccount(s) {
  const card = s && s.accountCard();
  const box = $("account");
  if (!card) {
    fill(box, h("h2", {}, t("section.account")),
      h("p", { class: "empty" }, s && s.call.account_id ? s.call.account_id : t("account.none")));
    return;
  }
  const cur = card.currency || "CNY";
  const row = (label, value) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", {}, value));
  fill(box,
    h("h2", {}, t("section.account"), h("span", { class: "muted" }, ` ${card.account_id || ""}`)),
    h("div", { class: "card-head" }, h("span", { class: "name" }, card.name || "-"),
      h("span", { class: "total", title: t("account.total") }, money(card.total_due, cur))),
    h("dl", { class: "grid" },
      row(t("account.principal"), money(card.principal, cur)),
      row(t("account.interest"), money(card.interest, cur)),
      row(t("account.penalty"), money(card.penalty, cur)),
      row(t("account.stage"), `${card.stage || "-"}${card.stage_name ? ` · ${card.stage_name}` : ""}`),
      row(t("account.overdue_days"), card.overdue_days != null ? t("account.days", { n: card.overdue_days }) : "-"),
      row(t("account.due_date"), card.due_date || "-")),
    card.broken_promises ? h("p", { class: "note" }, t("account.broken_promises", { n: card.broken_promises })) : null);
}

// prompt elements are built once and reused when the list is re-ordered
const promptEls = new Map();

function promptEl(p) {
  let el = promptEls.get(p.prompt_id);
  if (!el) {
    el = promptItem(p);
    promptEls.set(p.prompt_id, el);
  }
  return el;
}

// a disclosure reminder whose items have all been said since is history: it leaves the list
function stale(p, said) {
  return p.kind === "disclosure" && Array.isArray(p.data && p.data.missing) && p.data.missing.every((k) => said.has(k));
}

function renderPrompts(s) {
  const said = new Set(s ? s.checklist().filter((it) => it.done).map((it) => it.key) : []);
  const list = s ? s.orderedPrompts({ exclude: PANEL_KINDS })
    .filter((p) => (!isWarning(p) || dismissed.has(p.prompt_id)) && !stale(p, said)) : [];
  fill($("prompts"), ...(list.length ? list.map(promptEl) : [h("li", { class: "empty" }, t("prompts.none"))]));
}

function renderTemperament(s) {
  const p = s && s.latest("temperament");
  const box = $("temperament");
  if (!p) {
    fill(box, h("h2", {}, t("section.temperament")), h("p", { class: "empty" }, t("temperament.none")));
    return;
  }
  const d = p.data || {};
  const label = d.type_label || (has(`temperament.${d.label}`) ? t(`temperament.${d.label}`) : d.label || "");
  fill(box,
    h("h2", {}, t("section.temperament")),
    h("p", { class: "badges" },
      h("span", { class: `badge temper-${d.label || "neutral"}`, dataset: { promptId: p.prompt_id } }, label),
      d.angry ? h("span", { class: "badge angry" }, t("temperament.angry")) : null),
    h("p", { class: "text" }, p.text),
    d.avoid ? h("p", { class: "avoid" }, `${t("temperament.avoid")}：${d.avoid}`) : null);
}

function renderPromise(s) {
  const promise = s && s.latest("promise");
  const plan = s && s.latest("plan");
  const box = $("promise");
  const parts = [h("h2", {}, t("section.promise"))];
  if (promise) {
    const d = promise.data || {};
    parts.push(h("div", { class: `promise-box ${d.complete ? "complete" : "partial"}`, dataset: { promptId: promise.prompt_id } },
      h("div", { class: "kv" }, h("dt", {}, t("promise.amount")), h("dd", {}, d.amount != null ? money(d.amount) : "?")),
      h("div", { class: "kv" }, h("dt", {}, t("promise.date")), h("dd", {}, d.date || "?")),
      h("p", { class: "tag" }, d.complete ? t("promise.complete") : t("promise.incomplete"),
        d.confirmed ? ` · ${t("promise.confirmed")}` : ""),
      h("p", { class: "text" }, promise.text)));
  } else {
    parts.push(h("p", { class: "empty" }, t("promise.none")));
  }
  if (plan) {
    const options = (plan.data && plan.data.options) || [];
    parts.push(h("h3", {}, t("plan.title")),
      h("ul", { class: "plans", dataset: { promptId: plan.prompt_id } }, ...options.map((o) =>
        h("li", {}, t("plan.option", { count: o.count, each: money(o.amount_each), first: o.first_date })))),
      h("p", { class: "note" }, plan.text));
  }
  fill(box, ...parts);
}

function renderChecklist(s) {
  const items = s ? s.checklist() : [];
  fill($("checklist"), ...(items.length ? items.map((it) =>
    h("li", { class: it.done ? "done" : "todo", dataset: { key: it.key } },
      h("span", { class: "mark", "aria-hidden": "true" }, it.done ? "✓" : "○"),
      h("span", { class: "label" }, it.label || it.key),
      h("span", { class: "when" }, it.done ? (it.at != null ? t("checklist.done_at", { t: duration(it.at) }) : "") : t("checklist.missing"))))
    : [h("li", { class: "empty" }, t("checklist.none"))]));
}

function renderMessages(s) {
  const list = s ? s.messagesInOrder().reverse() : [];
  fill($("messages"), ...list.map((m, i) => h("article", { class: `message${i === 0 ? " newest" : ""}`, dataset: { messageId: m.message_id } },
    h("header", {}, t("section.messages"), " · ", t("messages.from", { user: m.from_user, time: clock(m.at) })),
    h("p", {}, m.text))));
}

const transcript = new TranscriptView($("transcript"));

function renderTranscript(s) {
  transcript.render(s);
}

// ------------------------------------------------------------------ the summary after the call

let summaryKey = null;
let busy = false;

function setBusy(on) {
  busy = on;
  for (const b of document.querySelectorAll("#summary button")) b.disabled = on;
}

function renderSummary(s) {
  const box = $("summary");
  if (!s || s.live) {
    box.hidden = true;
    summaryKey = null;
    return;
  }
  box.hidden = false;
  const d = s.summary;
  const key = d ? `${s.id}:${d.version}:${d.state}` : `${s.id}:none`;
  if (key !== summaryKey) {
    summaryKey = key;
    busy = false;
    fill(box, h("h2", {}, t("section.summary")), d ? summaryForm(s, d) : h("p", { class: "empty" }, t("summary.waiting")),
      h("div", { id: "delivery", class: "delivery" }));
  }
  renderDelivery(s);
}

function field(name, label, control) {
  return h("label", { class: "field", for: `f-${name}` }, h("span", {}, label), control);
}

function summaryForm(s, d) {
  const sm = d.summary;
  const c = sm.compliance || {};
  const promise = sm.promise || {};
  const outcome = h("select", { id: "f-outcome", name: "outcome" },
    ...d.outcomes.map((o) => new Option(t(`outcome.${o}`), o, false, o === sm.outcome)));
  const form = h("form", { class: "summary-form", onsubmit: (e) => { e.preventDefault(); } },
    h("p", { class: `state state-${d.state}` }, t(`summary.state.${d.state}`), " · ", t("summary.version", { v: d.version }),
      d.state === "draft" && d.release_at ? ` · ${t("summary.release_at", { t: clock(d.release_at) })}` : ""),
    d.error ? h("p", { class: "invalid" }, d.error) : null,
    field("outcome", t("summary.outcome"), outcome),
    h("div", { class: "row" },
      field("promise_amount", t("summary.promise_amount"), h("input", { id: "f-promise_amount", type: "number", min: "0", step: "0.01", value: promise.amount ?? "" })),
      field("promise_date", t("summary.promise_date"), h("input", { id: "f-promise_date", type: "date", value: promise.date ?? "" }))),
    field("willingness", t("summary.willingness"), h("input", { id: "f-willingness", type: "text", value: sm.willingness ?? "" })),
    field("economic_situation", t("summary.economic_situation"), h("input", { id: "f-economic_situation", type: "text", value: sm.economic_situation ?? "" })),
    field("narrative", t("summary.narrative"), h("textarea", { id: "f-narrative", rows: "5" }, sm.narrative || "")),
    field("agent_notes", t("summary.agent_notes"), h("textarea", { id: "f-agent_notes", rows: "2" }, sm.agent_notes || "")),
    h("p", { class: `compliance ${c.passed ? "ok" : "bad"}` }, `${t("summary.compliance")}：`,
      c.passed ? t("summary.compliance.passed") : t("summary.compliance.failed", { n: (c.violations || []).length, m: (c.disclosures_missing || []).length })),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "save-summary", class: "secondary", onclick: () => sendSummary(s, d, false) }, t("summary.save")),
      h("button", { type: "button", id: "submit-summary", class: "primary", onclick: () => sendSummary(s, d, true) },
        d.state === "draft" || d.state === "invalid" ? t("summary.submit") : t("summary.resubmit"))));
  return form;
}

// only the fields the agent changed
function edits(d) {
  const sm = d.summary;
  const out = {};
  const val = (id) => $(id).value.trim();
  if (val("f-outcome") !== sm.outcome) out.outcome = val("f-outcome");
  for (const name of ["willingness", "economic_situation", "agent_notes", "narrative"]) {
    const v = val(`f-${name}`);
    if (v !== (sm[name] || "").trim()) out[name] = name === "narrative" ? v : v || null;
  }
  const amount = val("f-promise_amount") === "" ? null : Number(val("f-promise_amount"));
  const date = val("f-promise_date") || null;
  const old = sm.promise || {};
  if (amount !== (old.amount ?? null) || date !== (old.date ?? null)) {
    out.promise = amount === null && date === null ? null : { amount, date };
  }
  return out;
}

function sendSummary(s, d, submit) {
  if (busy) return;
  const changes = edits(d);
  if (!submit && !Object.keys(changes).length) return;
  setBusy(true);
  conn.send(submit ? { type: "submit_summary", call_id: s.id, edits: Object.keys(changes).length ? changes : null }
    : { type: "edit_summary", call_id: s.id, edits: changes });
}

function renderDelivery(s) {
  const box = $("delivery");
  if (!box) return;
  const dv = s.delivery;
  const due = dv && dv.due_at ? dv.due_at : s.summary && s.summary.due_at;
  const status = dv ? dv.status : "awaiting_summary";
  const left = due ? (Date.parse(due) - serverNow()) / 1000 : null;
  const done = status === "delivered" || status === "no_targets";
  fill(box,
    h("h3", {}, t("delivery.title")),
    h("p", { class: `delivery-status st-${status}` }, t(`delivery.${status}`)),
    due && !done ? h("p", { class: `countdown${left < 0 ? " overdue" : left < 1200 ? " soon" : ""}` },
      left >= 0 ? t("delivery.time_left", { t: duration(left) }) : t("delivery.overdue", { t: duration(-left) }),
      h("span", { class: "muted" }, ` (${t("delivery.due", { t: dateTime(due) })})`)) : null,
    dv && dv.deliveries.length ? h("ul", { class: "targets" }, ...dv.deliveries.map((x) =>
      h("li", { class: `st-${x.status}` }, t("delivery.target", { target: x.target, status: t(`delivery.status.${x.status}`) }),
        x.last_error ? h("span", { class: "muted" }, ` — ${x.last_error}`) : null))) : null);
}

// ------------------------------------------------------------------ start

const conn = new Connection({
  hello: () => ({ call_id: currentId || requested || null }),
  onMessage,
  onStatus: showStatus,
});

setInterval(() => {
  const s = current();
  if (s) {
    renderStatus(s);
    if (!s.live) renderDelivery(s);
  }
}, 1000);

await loadLang(chosenLang());
setupChrome(() => {
  summaryKey = null;
  promptEls.clear();
  dirty("all");
});
setupErrorBox();
showStatus("connecting");
conn.start();
