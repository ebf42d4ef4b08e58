// @ts-check
// The agent sidebar, built for a person on the phone: one screen holds the "now" card (the single most
// important thing to do or say, chosen by severity then recency), the account's total and breakdown, the
// disclosure checklist and the live transcript's last turns; every other prompt, the promise and plans and the
// customer's temperament are one click away (tabs), and citations fold out on demand.  Keys: A acknowledges
// the now card, C copies its suggested line, 1-4 switch tabs.  After the call, the summary to review, edit and
// submit, with its CRM delivery state and the time left to the deadline.
import { CallState, PANEL_KINDS, isWarning, sayLine, stateFor } from "./callstate.js";
import { setupChrome, setupErrorBox, showError, showStatus, showUser } from "./chrome.js";
import { Connection } from "./connection.js";
import { clock, dateTime, duration, fill, h, kindLabel, longDate, markSeen, money, serverNow, setServerTime, severityLabel } from "./dom.js";
import { chosenLang, has, loadLang, t } from "./i18n.js";
import { detailsOf, promptItem } from "./prompts.js";
import { TranscriptView } from "./transcript.js";

/** @typedef {import("./callstate.js").Prompt} Prompt */
/** @typedef {import("./callstate.js").Draft} Draft */

/** @type {Map<string, CallState>} */
const calls = new Map();
const requested = new URLSearchParams(location.search).get("call");
/** @type {Set<string>} */
const dismissed = new Set(JSON.parse(sessionStorage.getItem("assist.dismissed") || "[]"));
/** @type {string | null} */
let currentId = null;
/** @type {string} */
let tab = "transcript";

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id @returns {HTMLInputElement} */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

function current() {
  return currentId ? calls.get(currentId) || null : null;
}

/** @param {string} callId */
function show(callId) {
  if (callId === currentId) return;
  currentId = callId;
  transcript.reset();
  promptEls.clear();
  summaryKey = null;
  dirty("all");
}

// ------------------------------------------------------------------ messages from the server

/** @param {any} msg */
function onMessage(msg) {
  switch (msg.type) {
    case "snapshot": {
      setServerTime(msg.server_time);
      showUser(msg.user);
      for (const row of msg.live_calls) {
        const s = stateFor(calls, row.call);
        for (const p of row.prompts) s.addPrompt(p);
      }
      if (msg.follow) {
        stateFor(calls, msg.follow.call).mergeFollow(msg.follow);
        show(msg.follow.call.call_id);
      }
      dirty("all");
      break;
    }
    case "event": {
      const ev = msg.event;
      if (msg.call) stateFor(calls, msg.call); // a call that starts: what the event does not say (the playbook)
      const s = calls.get(ev.call_id) || stateFor(calls, { call_id: ev.call_id, status: "live" });
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
      if (stateFor(calls, { call_id: msg.call_id }).addMessage(msg) && msg.call_id === currentId) dirty("messages");
      break;
    case "summary_draft":
      if (stateFor(calls, { call_id: msg.call_id }).setSummary(msg) && msg.call_id === currentId) dirty("summary");
      break;
    case "delivery_state":
      if (stateFor(calls, { call_id: msg.call_id }).setDelivery(msg) && msg.call_id === currentId) dirty("summary");
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

/** @type {Set<string>} */
const pending = new Set();
let scheduled = false;

/**
 * The parts of the sidebar a prompt changes (re-rendering only those keeps a busy sidebar fast).
 * @param {Prompt} p
 */
function sectionsOf(p) {
  if (isWarning(p)) return ["now", "prompts"];
  switch (p.kind) {
    case "account_card": return ["account", "temperament"];
    case "temperament": return ["temperament", "now"];
    case "promise":
    case "plan": return ["promise"];
    case "disclosure": return ["checklist", "prompts", "now"];
    default: return ["prompts", "now"];
  }
}

/** @param {...string} what */
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
  $("main").classList.toggle("ended", Boolean(s && !s.live));
  /** @param {...string} names */
  const want = (...names) => all || names.some((n) => pending.has(n));
  if (want("status")) renderStatus(s);
  if (want("now")) renderNow(s);
  if (want("account")) renderAccount(s);
  if (want("prompts")) renderPrompts(s);
  if (want("temperament", "account")) renderTemperament(s);
  if (want("promise")) renderPromise(s);
  if (want("checklist", "summary")) renderChecklist(s);
  if (want("messages")) renderMessages(s);
  if (want("transcript")) renderTranscript(s);
  if (want("summary")) renderSummary(s);
  if (all) renderTabs();
  pending.clear();
  if (s) markSeen(s.prompts.keys());
}

/** @param {CallState | null} s */
function renderStatus(s) {
  const el = $("call-status");
  el.dataset.state = s ? s.call.status : "none";
  el.textContent = s ? t(`call.${s.call.status}`) : t("agent.no_call");
  $("timer").textContent = s && s.call.started_at ? duration(s.elapsed(serverNow())) : "";
  const note = $("playbook-note");
  const pb = s && s.call.fallback_playbook;
  note.hidden = !pb;
  note.textContent = note.hidden ? "" : t("playbook.fallback", { playbook: pb || "", language: (s && s.call.language) || "" });
  $("untranscribed-note").hidden = !(s && s.call.transcribed === false);
}

// ---- the now card

/** @type {Prompt | null} */
let nowPrompt = null;

/** @param {CallState | null} s */
function renderNow(s) {
  const box = $("now");
  const list = s && s.live ? s.nowCandidates(dismissed) : [];
  nowPrompt = list[0] || null;
  document.title = list.some(isWarning) ? `⚠ ${t("section.alerts")} · assist` : "assist";
  if (!nowPrompt) {
    fill(box, s && s.live ? h("p", { class: "now-empty" }, t("now.none")) : null);
    box.className = "now";
    delete box.dataset.promptId;
    return;
  }
  const p = nowPrompt;
  const say = sayLine(p);
  box.className = `now sev-${p.severity}${isWarning(p) ? " warning" : ""}`;
  box.dataset.promptId = p.prompt_id;
  fill(box,
    h("header", {},
      h("span", { class: "tag" }, `${severityLabel(p.severity)} · ${kindLabel(p.kind)}`),
      list.length > 1 ? h("button", { type: "button", class: "link more", onclick: () => setTab("prompts") },
        t("now.more", { n: list.length - 1 })) : null,
      h("time", {}, clock(p.created_at))),
    h("p", { class: "text" }, nowText(p)),
    say ? h("p", { class: "say" }, h("span", { class: "say-label" }, `${t("now.say")}：`), say) : null,
    nowDetails(p),
    h("div", { class: "now-actions" },
      h("button", { type: "button", class: "dismiss", onclick: () => dismiss(p.prompt_id) },
        t("alert.dismiss"), h("kbd", {}, "A")),
      say ? h("button", { type: "button", class: "copy", onclick: () => copySay() }, t("now.copy"), h("kbd", {}, "C")) : null));
}

// the temperament prompt's text is a paragraph of guidance: the card shows its first sentence, the rest folds
/** @param {Prompt} p */
function nowText(p) {
  if (p.kind === "temperament") {
    const tm = current() && /** @type {CallState} */ (current()).temperament();
    return tm ? `${temperLabel(tm)} — ${firstSentence(p.text)}` : firstSentence(p.text);
  }
  return p.text;
}

/** @param {string} text */
function firstSentence(text) {
  const body = text.replace(/^【[^】]*】/, "");
  const m = /^[^。；!?.]*[。；!?.]/.exec(body);
  return (m ? m[0] : body).trim();
}

/** @param {Prompt} p */
function nowDetails(p) {
  const d = detailsOf(p);
  if (p.kind !== "temperament") return d;
  const extra = h("details", { class: "why" }, h("summary", {}, t("alert.details")), h("p", {}, p.text),
    p.data && p.data.avoid ? h("p", { class: "avoid" }, `${t("temperament.avoid")}：${p.data.avoid}`) : null);
  return extra;
}

/** @param {string} promptId */
function dismiss(promptId) {
  dismissed.add(promptId);
  sessionStorage.setItem("assist.dismissed", JSON.stringify([...dismissed]));
  dirty("now", "prompts");
}

async function copySay() {
  const say = nowPrompt && sayLine(nowPrompt);
  if (!say) return;
  const box = $("now");
  try {
    await navigator.clipboard.writeText(say);
    box.dataset.copied = "1";
  } catch {
    box.dataset.copied = "0"; // no clipboard (insecure origin): the line stays selectable on screen
  }
  const label = box.querySelector("button.copy")?.firstChild; // the button's text, before its <kbd>
  if (label) label.textContent = box.dataset.copied === "1" ? t("now.copied") : t("now.copy");
}

// ---- account, checklist, prompts, temperament, promise

/** @param {CallState | null} s */
function renderAccount(s) {
  const card = s && s.accountCard();
  const box = $("account");
  if (!card) {
    fill(box, h("p", { class: "empty" }, s && s.call.account_id ? s.call.account_id : t("account.none")));
    return;
  }
  const cur = card.currency || "CNY";
  /** @param {string} label @param {string} value @param {string} cls */
  const part = (label, value, cls) => h("span", { class: `part ${cls}` }, h("span", { class: "muted" }, label), " ", value);
  fill(box,
    h("div", { class: "card-head" },
      h("span", { class: "name", title: card.account_id || "" }, card.name || "-"),
      h("span", { id: "temper-head", class: "temper-head" }),
      h("span", { class: "total", title: t("account.total") }, money(card.total_due, cur))),
    h("p", { class: "breakdown" },
      part(t("account.principal"), money(card.principal, cur), "principal"),
      part(t("account.interest"), money(card.interest, cur), "interest"),
      part(t("account.penalty"), money(card.penalty, cur), "penalty")),
    h("p", { class: "breakdown" },
      part(t("account.stage"), `${card.stage || "-"}`, "stage"),
      part(t("account.overdue_days"), card.overdue_days != null ? t("account.days", { n: card.overdue_days }) : "-", "days"),
      part(t("account.due_date"), card.due_date || "-", "due"),
      card.broken_promises ? h("span", { class: "part note" }, t("account.broken_promises", { n: card.broken_promises })) : null));
}

// prompt elements are built once and reused when the list is re-ordered
/** @type {Map<string, HTMLElement>} */
const promptEls = new Map();

/** @param {Prompt} p */
function promptEl(p) {
  let el = promptEls.get(p.prompt_id);
  if (!el) {
    el = promptItem(p);
    promptEls.set(p.prompt_id, el);
  }
  return el;
}

/** @param {CallState | null} s */
function renderPrompts(s) {
  const said = new Set(s ? s.checklist().filter((it) => it.done).map((it) => it.key) : []);
  const list = s ? s.orderedPrompts({ exclude: PANEL_KINDS }).filter((p) => !s.isStale(p, said)) : [];
  $("prompts-count").textContent = list.length ? `(${list.length})` : "";
  fill($("prompts"), ...(list.length ? list.map(promptEl) : [h("li", { class: "empty" }, t("prompts.none"))]));
}

/** @param {NonNullable<ReturnType<CallState["temperament"]>>} tm */
function temperLabel(tm) {
  const type = tm.typeLabel || (has(`temperament.${tm.label}`) ? t(`temperament.${tm.label}`) : tm.label);
  if (!tm.angry) return type;
  return tm.label === "neutral" ? t("temperament.angry") : `${type} · ${t("temperament.angry")}`;
}

/** @param {NonNullable<ReturnType<CallState["temperament"]>>} tm */
function trendOf(tm) {
  if (tm.trend === "up") return h("span", { class: "trend up", title: t("temperament.rising") }, "↑");
  if (tm.trend === "down") return h("span", { class: "trend down" }, `↓ ${t("temperament.calming")}`);
  return null;
}

/** @param {CallState | null} s */
function renderTemperament(s) {
  const tm = s && s.temperament();
  const box = $("temperament");
  const head = document.getElementById("temper-head");
  if (!tm) {
    fill(box, h("p", { class: "empty" }, t("temperament.none")));
    if (head) fill(head);
    return;
  }
  const p = tm.prompt;
  fill(box,
    h("p", { class: "badges" },
      h("span", { class: `badge temper temper-${tm.label}${tm.angry ? " angry" : ""}`, dataset: { promptId: p.prompt_id } },
        temperLabel(tm)), trendOf(tm)),
    tm.say ? h("p", { class: "say" }, h("span", { class: "say-label" }, `${t("now.say")}：`), tm.say) : null,
    h("p", { class: "text" }, p.text),
    tm.avoid ? h("p", { class: "avoid" }, `${t("temperament.avoid")}：${tm.avoid}`) : null);
  if (head) fill(head, h("span", { class: `badge temper temper-${tm.label}${tm.angry ? " angry" : ""}` }, temperLabel(tm)), trendOf(tm));
}

/** @param {CallState | null} s */
function renderPromise(s) {
  const promise = s && s.latest("promise");
  const plan = s && s.latest("plan");
  const parts = [];
  if (promise) {
    const d = promise.data || {};
    parts.push(h("div", { class: `promise-box ${d.complete ? "complete" : "partial"}`, dataset: { promptId: promise.prompt_id } },
      h("div", { class: "kv" }, h("dt", {}, t("promise.amount")), h("dd", {}, d.amount != null ? money(d.amount) : "?")),
      h("div", { class: "kv" }, h("dt", {}, t("promise.date")), h("dd", {}, d.date ? longDate(d.date) : "?")),
      h("p", { class: "tag" }, d.complete ? t("promise.complete") : t("promise.incomplete"),
        d.confirmed ? ` · ${t("promise.confirmed")}` : ""),
      h("p", { class: "text" }, promise.text)));
  } else {
    parts.push(h("p", { class: "empty" }, t("promise.none")));
  }
  if (plan) {
    // the options as a list; the coach's paragraph says the same, so only its note (e.g. approval) is kept
    const options = (plan.data && plan.data.options) || [];
    parts.push(h("h3", {}, t("plan.title")),
      h("ul", { class: "plans", dataset: { promptId: plan.prompt_id } }, ...options.map((/** @type {any} */ o) =>
        h("li", {}, t("plan.option", { count: o.count, each: money(o.amount_each), first: longDate(o.first_date) })))),
      options.length ? planNote(plan.text) : h("p", { class: "note" }, plan.text));
  }
  fill($("promise"), ...parts);
}

// the sentences of the plan prompt after its list of options (the conditions), if any
/** @param {string} text */
function planNote(text) {
  const tail = text.split(/[。.]\s*/).slice(1).filter(Boolean).join("。");
  return tail ? h("p", { class: "note" }, `${tail}。`) : null;
}

/** @param {CallState | null} s */
function renderChecklist(s) {
  const items = s ? s.checklist() : [];
  const done = items.filter((it) => it.done).length;
  $("checklist-count").textContent = items.length ? `${done}/${items.length}` : "";
  const untranscribed = s && s.summary && s.summary.summary.compliance && s.summary.summary.compliance.transcribed === false;
  fill($("checklist"), ...(untranscribed ? [h("li", { class: "empty" }, t("summary.untranscribed"))] : items.length ? items.map((it) =>
    h("li", { class: it.done ? "done" : "todo", dataset: { key: it.key },
      title: it.done ? (it.at != null ? t("checklist.done_at", { t: duration(it.at) }) : "") : t("checklist.missing") },
      h("span", { class: "mark", "aria-hidden": "true" }, it.done ? "✓" : "○"),
      h("span", { class: "label" }, it.label || it.key)))
    : [h("li", { class: "empty" }, t("checklist.none"))]));
}

/** @param {CallState | null} s */
function renderMessages(s) {
  const list = s ? s.messagesInOrder().reverse() : [];
  fill($("messages"), ...list.slice(0, 2).map((m, i) => h("article", { class: `message${i === 0 ? " newest" : ""}`, dataset: { messageId: m.message_id } },
    h("header", {}, t("section.messages"), " · ", t("messages.from", { user: m.from_user, time: clock(m.at) })),
    h("p", {}, m.text))));
}

const transcript = new TranscriptView($("transcript"));

/** @param {CallState | null} s */
function renderTranscript(s) {
  transcript.render(s);
}

// ---- tabs

/** @param {string} name */
function setTab(name) {
  tab = name;
  renderTabs();
}

function renderTabs() {
  for (const b of document.querySelectorAll("#tabs .tab")) {
    const on = /** @type {HTMLElement} */ (b).dataset.tab === tab;
    b.setAttribute("aria-selected", String(on));
    b.classList.toggle("on", on);
  }
  for (const p of document.querySelectorAll("#tabs .tab-panel")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.panel !== tab;
  }
  if (tab === "transcript") transcript.toEnd();
}

// ------------------------------------------------------------------ the summary after the call

/** @type {string | null} */
let summaryKey = null;
let busy = false;

/** @param {boolean} on */
function setBusy(on) {
  busy = on;
  for (const b of document.querySelectorAll("#summary button")) /** @type {HTMLButtonElement} */ (b).disabled = on;
}

/** @param {CallState | null} s */
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

/** @param {string} name @param {string} label @param {...(Node | null)} controls */
function field(name, label, ...controls) {
  return h("label", { class: "field", for: `f-${name}` }, h("span", {}, label), ...controls);
}

// a value of the summary in the page's language (zh-CN: 较强/一般/较弱 …), the raw value if no label
/** @param {string} group @param {string | null | undefined} value */
function valueLabel(group, value) {
  if (!value) return "";
  return has(`${group}.${value}`) ? t(`${group}.${value}`) : value;
}

/** @param {any} sm */
function temperamentLine(sm) {
  const tm = sm.temperament;
  // an angry call whose type stayed neutral is "agitated", not "calm · agitated"
  const calm = !tm || ["neutral", "calm"].includes(tm.label);
  const label = !tm ? t("summary.temperament.none") : tm.angry && calm ? t("temperament.angry")
    : [valueLabel("temperament", tm.label), tm.angry && tm.label !== "angry" ? t("temperament.angry") : null].filter(Boolean).join(" · ");
  return h("p", { class: "summary-temperament" }, `${t("summary.temperament")}：`, h("span", { id: "f-temperament" }, label));
}

/** @param {any} c */
function complianceLine(c) {
  if (c.transcribed === false) return h("p", { class: "compliance unknown" }, `${t("summary.compliance")}：${t("summary.untranscribed")}`);
  return h("p", { class: `compliance ${c.passed ? "ok" : "bad"}` }, `${t("summary.compliance")}：`,
    c.passed ? t("summary.compliance.passed") : t("summary.compliance.failed", { n: (c.violations || []).length, m: (c.disclosures_missing || []).length }));
}

/** @param {CallState} s @param {Draft} d */
function summaryForm(s, d) {
  const sm = d.summary;
  const c = sm.compliance || {};
  const promise = sm.promise || {};
  const outcome = h("select", { id: "f-outcome", name: "outcome" },
    ...d.outcomes.map((o) => new Option(t(`outcome.${o}`), o, false, o === sm.outcome)));
  const levels = ["", "high", "medium", "low"];
  if (sm.willingness && !levels.includes(sm.willingness)) levels.push(sm.willingness);
  const willingness = h("select", { id: "f-willingness", name: "willingness" },
    ...levels.map((v) => new Option(v ? valueLabel("willingness", v) : "—", v, false, v === (sm.willingness || ""))));
  const dateHint = h("span", { class: "date-hint muted" }, promise.date ? longDate(promise.date) : "");
  const dateInput = h("input", { id: "f-promise_date", type: "text", inputmode: "numeric", pattern: "\\d{4}-\\d{2}-\\d{2}",
    placeholder: t("summary.date_format"), value: promise.date ?? "",
    oninput: (/** @type {Event} */ e) => { dateHint.textContent = longDate(/** @type {HTMLInputElement} */ (e.target).value); } });
  const form = h("form", { class: "summary-form", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); } },
    h("p", { class: `state state-${d.state}` }, t(`summary.state.${d.state}`), " · ", t("summary.version", { v: d.version }),
      d.state === "draft" && d.release_at ? ` · ${t("summary.release_at", { t: clock(d.release_at) })}` : ""),
    d.error ? h("p", { class: "invalid" }, d.error) : null,
    field("outcome", t("summary.outcome"), outcome),
    h("div", { class: "row" },
      field("promise_amount", t("summary.promise_amount"), h("input", { id: "f-promise_amount", type: "number", min: "0", step: "0.01", value: promise.amount ?? "" })),
      field("promise_date", t("summary.promise_date"), dateInput, dateHint)),
    field("willingness", t("summary.willingness"), willingness),
    field("economic_situation", t("summary.economic_situation"), h("input", { id: "f-economic_situation", type: "text", value: sm.economic_situation ?? "" })),
    temperamentLine(sm),
    field("narrative", t("summary.narrative"), h("textarea", { id: "f-narrative", rows: "5" }, sm.narrative || "")),
    field("agent_notes", t("summary.agent_notes"), h("textarea", { id: "f-agent_notes", rows: "2" }, sm.agent_notes || "")),
    complianceLine(c),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "save-summary", class: "secondary", onclick: () => sendSummary(s, d, false) }, t("summary.save")),
      h("button", { type: "button", id: "submit-summary", class: "primary", onclick: () => sendSummary(s, d, true) },
        d.state === "draft" || d.state === "invalid" ? t("summary.submit") : t("summary.resubmit"))));
  return form;
}

/**
 * Only the fields the agent changed.
 * @param {Draft} d
 */
function edits(d) {
  const sm = d.summary;
  /** @type {Record<string, any>} */
  const out = {};
  /** @param {string} id */
  const val = (id) => input(id).value.trim();
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

/** @param {CallState} s @param {Draft} d @param {boolean} submit */
function sendSummary(s, d, submit) {
  if (busy) return;
  const changes = edits(d);
  if (!submit && !Object.keys(changes).length) return;
  setBusy(true);
  conn.send(submit ? { type: "submit_summary", call_id: s.id, edits: Object.keys(changes).length ? changes : null }
    : { type: "edit_summary", call_id: s.id, edits: changes });
}

/** @param {CallState} s */
function renderDelivery(s) {
  const box = document.getElementById("delivery");
  if (!box) return;
  const dv = s.delivery;
  const due = dv && dv.due_at ? dv.due_at : s.summary && s.summary.due_at;
  const status = dv ? dv.status : "awaiting_summary";
  const left = due ? (Date.parse(due) - serverNow()) / 1000 : null;
  const done = status === "delivered" || status === "no_targets";
  fill(box,
    h("h3", {}, t("delivery.title")),
    h("p", { class: `delivery-status st-${status}` }, t(`delivery.${status}`)),
    due && !done && left !== null ? h("p", { class: `countdown${left < 0 ? " overdue" : left < 1200 ? " soon" : ""}` },
      left >= 0 ? t("delivery.time_left", { t: duration(left) }) : t("delivery.overdue", { t: duration(-left) }),
      h("span", { class: "muted" }, ` (${t("delivery.due", { t: dateTime(due) })})`)) : null,
    dv && dv.deliveries.length ? h("ul", { class: "targets" }, ...dv.deliveries.map((x) =>
      h("li", { class: `st-${x.status}` }, t("delivery.target", { target: x.target, status: t(`delivery.status.${x.status}`) }),
        x.last_error ? h("span", { class: "muted" }, ` — ${x.last_error}`) : null))) : null);
}

// ------------------------------------------------------------------ keys

const TAB_KEYS = ["transcript", "prompts", "promise", "temperament"];

/** @param {KeyboardEvent} e */
function onKey(e) {
  const target = /** @type {HTMLElement} */ (e.target);
  if (e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable) return;
  const key = e.key.toLowerCase();
  if (key === "a" && nowPrompt) {
    e.preventDefault();
    dismiss(nowPrompt.prompt_id);
  } else if (key === "c" && nowPrompt) {
    e.preventDefault();
    copySay();
  } else if (/^[1-4]$/.test(key)) {
    setTab(TAB_KEYS[Number(key) - 1]);
  }
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

for (const b of document.querySelectorAll("#tabs .tab")) {
  b.addEventListener("click", () => setTab(/** @type {HTMLElement} */ (b).dataset.tab || "transcript"));
}
document.addEventListener("keydown", onKey);

await loadLang(chosenLang());
setupChrome(() => {
  summaryKey = null;
  promptEls.clear();
  dirty("all");
});
setupErrorBox();
showStatus("connecting");
conn.start();
