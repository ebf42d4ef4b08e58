// @ts-check
// The supervisor console: every live call of the team (agent, account, duration, stage, temperament, risk,
// open alerts) updating live; the alert feed, live calls first and ended calls apart, with acknowledge; one
// followed call's transcript and prompts with a message box to its agent (read-only once the call ended, with
// its summary: outcome, promise, compliance, CRM delivery and deadline); the recently ended calls with their
// outcome, promise and CRM state.  Severity words come from one scale (severity.js) everywhere.
import { CallState, isAlert, newestFirst, stateFor } from "./callstate.js";
import { setupChrome, setupErrorBox, showError, showStatus, showUser } from "./chrome.js";
import { Connection } from "./connection.js";
import { clock, dateTime, duration, fill, h, longDate, markSeen, money, serverNow, setServerTime, severityLabel } from "./dom.js";
import { chosenLang, has, loadLang, t } from "./i18n.js";
import { promptItem } from "./prompts.js";
import { rank } from "./severity.js";
import { TranscriptView } from "./transcript.js";

/** @typedef {import("./callstate.js").Prompt} Prompt */

/** @type {Map<string, CallState>} */
const calls = new Map();
/** @type {Map<string, {alerts: number, outcome?: string | null, promise?: any}>} */
const recent = new Map();
/** @type {string | null} */
let followId = new URLSearchParams(location.hash.slice(1)).get("call");
/** @type {TranscriptView | null} */
let followView = null;
/** @type {string | null} the call the follow panel was built for (rebuilt only when that changes) */
let frameFor = null;
let frameEnded = false;
/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ------------------------------------------------------------------ messages from the server

/** @param {any} msg */
function onMessage(msg) {
  switch (msg.type) {
    case "snapshot": {
      setServerTime(msg.server_time);
      showUser(msg.user);
      const live = new Set(msg.live_calls.map((/** @type {any} */ r) => r.call.call_id));
      for (const row of msg.live_calls) {
        const s = stateFor(calls, row.call);
        for (const p of row.prompts) s.addPrompt(p);
        for (const a of row.acks) s.addAck(a);
      }
      for (const row of msg.recent_calls) {
        const s = stateFor(calls, row.call);
        recent.set(row.call.call_id, { alerts: row.alerts, outcome: row.outcome, promise: row.promise });
        if (row.delivery) s.setDelivery(row.delivery);
      }
      if (msg.reason === "hello") {
        for (const [id, s] of calls) if (s.live && !live.has(id) && id !== followId) calls.delete(id);
      }
      if (msg.follow) stateFor(calls, msg.follow.call).mergeFollow(msg.follow);
      dirty("all");
      break;
    }
    case "event": {
      const ev = msg.event;
      if (msg.call) stateFor(calls, msg.call); // a call that starts: what the event does not say (the playbook)
      const s = calls.get(ev.call_id) || stateFor(calls, { call_id: ev.call_id, status: "live" });
      if (!s.applyEvent(ev)) break;
      if (ev.type === "call_ended") recent.set(ev.call_id, { alerts: s.alerts().length });
      if (ev.type === "segment") {
        if (ev.call_id === followId) dirty("transcript");
      } else {
        dirty(ev.type === "prompt" ? "prompts" : "all");
      }
      break;
    }
    case "alert_ack":
      if (stateFor(calls, { call_id: msg.call_id }).addAck(msg)) dirty("prompts");
      break;
    case "supervisor_message":
      if (stateFor(calls, { call_id: msg.call_id }).addMessage(msg) && msg.call_id === followId) dirty("messages");
      break;
    case "summary_draft":
      if (stateFor(calls, { call_id: msg.call_id }).setSummary(msg)) dirty("recent", "summary");
      break;
    case "delivery_state":
      if (stateFor(calls, { call_id: msg.call_id }).setDelivery(msg)) dirty("recent", "summary");
      break;
    case "error":
      showError(msg.status === 403 ? `${t("error.forbidden")} (${msg.message})` : t("error.generic", { message: msg.message }));
      break;
    default:
      break;
  }
}

/** @param {string | null} callId */
function follow(callId) {
  if (callId === followId) return;
  followId = callId;
  history.replaceState(null, "", callId ? `#call=${encodeURIComponent(callId)}` : location.pathname);
  followView = null;
  conn.send({ type: "subscribe", call_id: callId });
  dirty("all");
}

// ------------------------------------------------------------------ rendering (batched per task)

/** @type {Set<string>} */
const pending = new Set();
let scheduled = false;

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
  if (all || pending.has("prompts")) {
    renderLive();
    renderAlerts();
  }
  if (all || pending.has("prompts") || pending.has("recent")) renderRecent();
  renderFollowFrame(all);
  if (all || pending.has("prompts") || pending.has("messages") || pending.has("transcript") || pending.has("summary")) renderFollow(pending);
  pending.clear();
  /** @type {string[]} */
  const seen = [];
  for (const s of calls.values()) for (const p of s.prompts.values()) if (isAlert(p) || s.id === followId) seen.push(p.prompt_id);
  markSeen(seen);
}

function liveCalls() {
  return [...calls.values()].filter((s) => s.live)
    .sort((a, b) => Date.parse(a.call.started_at || "0") - Date.parse(b.call.started_at || "0"));
}

// one label with its trend, as in the agent's sidebar (never two contradicting badges)
/** @param {CallState} s */
function temperamentCell(s) {
  const tm = s.temperament();
  if (!tm) return "-";
  const type = tm.typeLabel || (has(`temperament.${tm.label}`) ? t(`temperament.${tm.label}`) : tm.label);
  const label = !tm.angry ? type : tm.label === "neutral" ? t("temperament.angry") : `${type} · ${t("temperament.angry")}`;
  return h("span", {}, h("span", { class: `badge temper temper-${tm.label}${tm.angry ? " angry" : ""}` }, label),
    tm.trend === "up" ? h("span", { class: "trend up" }, "↑") : tm.trend === "down" ? h("span", { class: "trend down" }, `↓ ${t("temperament.calming")}`) : null);
}

// the risk prompts' own severity, in the same word their alert shows
/** @param {CallState} s */
function riskCell(s) {
  const { level, kinds } = s.risk();
  if (!level) return h("span", { class: "muted" }, t("risk.none"));
  const names = kinds.map((k) => (has(`risk.${k}`) ? t(`risk.${k}`) : k));
  return h("span", {}, h("span", { class: `badge sev-${level}` }, severityLabel(level)), names.length ? ` ${names.join("、")}` : "");
}

/** @param {CallState} s */
function accountCell(s) {
  const card = s.accountCard();
  return h("span", {}, card && card.name ? `${card.name} ` : "", h("span", { class: "muted" }, s.call.account_id || (card && card.account_id) || "-"));
}

/** @param {CallState} s */
function playbookNote(s) {
  return s.call.fallback_playbook ? h("span", { class: "playbook-tag", title: t("playbook.fallback", { playbook: s.call.fallback_playbook, language: s.call.language || "" }) },
    t("playbook.fallback", { playbook: s.call.fallback_playbook, language: s.call.language || "" })) : null;
}

function renderLive() {
  const rows = liveCalls();
  $("live-count").textContent = rows.length ? `(${rows.length})` : "";
  const body = /** @type {HTMLTableElement} */ ($("live")).tBodies[0];
  if (!rows.length) {
    fill(body, h("tr", {}, h("td", { colspan: "7", class: "empty" }, t("supervisor.no_live"))));
    return;
  }
  fill(body, ...rows.map((s) => {
    const card = s.accountCard();
    const open = s.openAlerts().length;
    return h("tr", { class: `call-row${s.id === followId ? " selected" : ""}`, dataset: { callId: s.id }, tabindex: "0",
      onclick: () => follow(s.id), onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") follow(s.id); } },
      h("td", {}, s.call.agent_id || "-"),
      h("td", {}, accountCell(s), playbookNote(s)),
      h("td", { class: "duration" }, duration(s.elapsed(serverNow()))),
      h("td", {}, card ? card.stage || "-" : "-"),
      h("td", {}, temperamentCell(s)),
      h("td", { class: "risk" }, riskCell(s)),
      h("td", {}, h("span", { class: `count-badge${open ? " hot" : ""}` }, String(open))));
  }));
}

/** @param {string} id */
function outcomeOf(id) {
  const s = calls.get(id);
  const r = recent.get(id);
  const sm = s && s.summary ? s.summary.summary : null;
  return { outcome: sm ? sm.outcome : r && r.outcome, promise: sm ? sm.promise : r && r.promise };
}

/** @param {any} promise */
function promiseText(promise) {
  if (!promise || (promise.amount == null && !promise.date)) return "-";
  return [promise.amount != null ? money(promise.amount, promise.currency || "CNY") : null, promise.date ? longDate(promise.date) : null]
    .filter(Boolean).join(" · ");
}

/** @param {string | null} status @param {string | null | undefined} due */
function deliveryCells(status, due) {
  const done = status === "delivered" || status === "no_targets";
  const left = due ? (Date.parse(due) - serverNow()) / 1000 : null;
  // "no CRM" is said once in the table's header note, not in every row
  const state = status === "no_targets" ? h("span", { class: "delivery-status st-no_targets muted" }, "—")
    : h("span", { class: `delivery-status st-${status}` }, t(`delivery.${status}`));
  const deadline = h("td", { class: `deadline${left !== null && left < 0 && !done ? " overdue" : ""}` },
    left === null || done ? "-" : left >= 0 ? t("delivery.time_left", { t: duration(left) }) : t("delivery.overdue", { t: duration(-left) }));
  return [h("td", {}, state), deadline];
}

function renderRecent() {
  const ids = [...recent.keys()].filter((id) => calls.has(id) && !(/** @type {CallState} */ (calls.get(id))).live)
    .sort((a, b) => Date.parse(calls.get(b)?.call.ended_at || "0") - Date.parse(calls.get(a)?.call.ended_at || "0")).slice(0, 30);
  const body = /** @type {HTMLTableElement} */ ($("recent")).tBodies[0];
  const noCrm = ids.length > 0 && ids.some((id) => calls.get(id)?.delivery?.status === "no_targets");
  $("crm-note").hidden = !noCrm;
  if (!ids.length) {
    fill(body, h("tr", {}, h("td", { colspan: "8", class: "empty" }, t("supervisor.no_recent"))));
    return;
  }
  fill(body, ...ids.map((id) => {
    const s = /** @type {CallState} */ (calls.get(id));
    const dv = s.delivery;
    const status = dv ? dv.status : "awaiting_summary";
    const { outcome, promise } = outcomeOf(id);
    return h("tr", { class: `recent-row${id === followId ? " selected" : ""}`, dataset: { callId: id }, tabindex: "0",
      onclick: () => follow(id), onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") follow(id); } },
      h("td", {}, s.call.agent_id || "-"),
      h("td", {}, accountCell(s)),
      h("td", {}, dateTime(s.call.ended_at)),
      h("td", {}, duration(s.elapsed(serverNow()))),
      h("td", { class: "outcome" }, s.call.transcribed === false ? h("span", { class: "muted" }, t("supervisor.untranscribed"))
        : outcome ? t(`outcome.${outcome}`) : h("span", { class: "muted" }, "…")),
      h("td", { class: "promise" }, promiseText(promise)),
      ...deliveryCells(status, dv && dv.due_at));
  }));
}

/** @param {CallState} s @param {Prompt} p */
function ackButton(s, p) {
  const ack = s.acks.get(p.prompt_id);
  if (ack) return h("p", { class: "acked" }, t("supervisor.acked", { user: ack.by_user }));
  return h("button", { type: "button", class: "ack", onclick: (/** @type {Event} */ e) => { e.stopPropagation(); conn.send({ type: "ack_alert", prompt_id: p.prompt_id }); } },
    t("supervisor.ack"));
}

/** @param {[CallState, Prompt]} a @param {[CallState, Prompt]} b */
function alertOrder([sa, a], [sb, b]) {
  // open alerts first, the most severe first, then the newest
  return Number(sa.acks.has(a.prompt_id)) - Number(sb.acks.has(b.prompt_id)) || rank(a.severity) - rank(b.severity) || newestFirst(a, b);
}

function renderAlerts() {
  /** @type {[CallState, Prompt][]} */
  const live = [];
  /** @type {[CallState, Prompt][]} */
  const ended = [];
  for (const s of calls.values()) for (const p of s.alerts()) (s.live ? live : ended).push([s, p]);
  live.sort(alertOrder);
  ended.sort(alertOrder);
  const open = live.filter(([s, p]) => !s.acks.has(p.prompt_id)).length;
  $("alert-count").textContent = open ? `(${open})` : "";
  /** @param {[CallState, Prompt]} item */
  const item = ([s, p]) => {
    const li = promptItem(p, h("p", { class: "who" }, `${s.call.agent_id || "-"} · ${s.call.account_id || "-"}`), s.live ? ackButton(s, p) : null);
    li.classList.add("alert");
    li.classList.toggle("is-acked", s.acks.has(p.prompt_id));
    li.classList.toggle("is-ended", !s.live);
    li.addEventListener("click", () => follow(s.id));
    return li;
  };
  /** @type {HTMLElement[]} */
  const out = [];
  if (live.length || !ended.length) {
    out.push(h("li", { class: "group-head" }, t("supervisor.alerts_live")));
    out.push(...(live.length ? live.slice(0, 100).map(item) : [h("li", { class: "empty" }, t("supervisor.no_alerts"))]));
  }
  if (ended.length) {
    out.push(h("li", { class: "group-head ended" }, `${t("supervisor.alerts_ended")} (${ended.length})`));
    out.push(...ended.slice(0, 50).map(item));
  }
  fill($("alerts"), ...out);
}

// the followed call: header, transcript, prompts, messages and the message box (built once per call, and
// again when it ends: the box becomes read-only and the summary appears)
/** @param {boolean} all */
function renderFollowFrame(all) {
  const box = $("follow");
  const s = followId ? calls.get(followId) : null;
  const ended = Boolean(s && !s.live);
  const title = t("supervisor.follow", { call: s && s.call.agent_id ? `${s.call.agent_id} · ${s.call.account_id || followId}` : followId || "" });
  if (followId && followView && frameFor === followId && frameEnded === ended) {
    if (all) /** @type {HTMLElement} */ (box.querySelector(".follow-head h2")).textContent = title;
    return;
  }
  if (!all && frameFor === followId && frameEnded === ended) return;
  frameFor = followId;
  frameEnded = ended;
  box.classList.toggle("is-ended", ended);
  if (!followId) {
    fill(box, h("p", { class: "empty" }, t("supervisor.follow_hint")));
    followView = null;
    return;
  }
  const input = h("input", { id: "message-text", type: "text", maxlength: "1000", placeholder: ended ? t("supervisor.read_only") : t("supervisor.message"),
    disabled: ended, title: ended ? t("supervisor.read_only") : null });
  const send = () => {
    const text = /** @type {HTMLInputElement} */ (input).value.trim();
    if (!text || ended) return;
    conn.send({ type: "send_message", call_id: followId, text });
    /** @type {HTMLInputElement} */ (input).value = "";
  };
  fill(box,
    h("header", { class: "follow-head" },
      h("h2", {}, title),
      ended ? h("span", { class: "badge ended-badge" }, t("supervisor.ended_badge")) : null,
      s ? playbookNote(s) : null,
      h("button", { type: "button", class: "link", onclick: () => follow(null) }, t("supervisor.unfollow"))),
    ended ? h("section", { id: "follow-summary", class: "follow-summary" }) : null,
    h("div", { class: "follow-grid" },
      h("div", {}, h("h3", {}, t("section.transcript")), h("div", { id: "follow-transcript", class: "transcript" })),
      h("div", {}, h("h3", {}, t("section.prompts")), h("ol", { id: "follow-prompts", class: "prompts" }))),
    h("form", { class: "message-form", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); send(); } },
      input, h("button", { type: "submit", id: "message-send", class: "primary", disabled: ended }, t("supervisor.send"))),
    ended ? h("p", { class: "read-only-note muted" }, t("supervisor.read_only")) : null,
    h("ol", { id: "follow-messages", class: "sent-messages" }));
  followView = new TranscriptView($("follow-transcript"));
}

/** @param {CallState} s */
function renderFollowSummary(s) {
  const box = document.getElementById("follow-summary");
  if (!box) return;
  const d = s.summary;
  const dv = s.delivery;
  const status = dv ? dv.status : "awaiting_summary";
  const due = dv && dv.due_at ? dv.due_at : d && d.due_at;
  const left = due ? (Date.parse(due) - serverNow()) / 1000 : null;
  const done = status === "delivered" || status === "no_targets";
  const { outcome, promise } = outcomeOf(s.id);
  const c = d ? d.summary.compliance || {} : null;
  /** @param {string} label @param {any} value */
  const kv = (label, value) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", {}, value));
  fill(box,
    h("h3", {}, t("supervisor.summary"), d ? h("span", { class: "muted" }, ` · ${t(`summary.state.${d.state}`)}`) : null),
    h("dl", { class: "grid" },
      kv(t("summary.outcome"), outcome ? t(`outcome.${outcome}`) : t("supervisor.no_summary")),
      kv(t("summary.promise"), promiseText(promise)),
      kv(t("summary.compliance"), !c ? "-" : c.transcribed === false || s.call.transcribed === false ? t("supervisor.untranscribed")
        : c.passed ? t("summary.compliance.passed") : t("summary.compliance.failed", { n: (c.violations || []).length, m: (c.disclosures_missing || []).length })),
      kv(t("delivery.title"), h("span", { class: `delivery-status st-${status}` }, t(`delivery.${status}`))),
      due && !done && left !== null ? kv(t("supervisor.col.deadline"), h("span", { class: `countdown${left < 0 ? " overdue" : ""}` },
        left >= 0 ? t("delivery.time_left", { t: duration(left) }) : t("delivery.overdue", { t: duration(-left) }),
        h("span", { class: "muted" }, ` (${t("delivery.due", { t: dateTime(due) })})`))) : null),
    d && d.summary.narrative ? h("p", { class: "narrative" }, d.summary.narrative) : null);
}

/** @param {Set<string>} what */
function renderFollow(what) {
  if (!followId || !followView) return;
  const s = calls.get(followId);
  if (what.has("all") || what.has("transcript")) followView.render(s);
  if (!s) return;
  if (what.has("all") || what.has("prompts")) {
    const list = s.orderedPrompts();
    fill($("follow-prompts"), ...(list.length ? list.map((p) => promptItem(p)) : [h("li", { class: "empty" }, t("prompts.none"))]));
  }
  if (what.has("all") || what.has("messages")) {
    fill($("follow-messages"), ...s.messagesInOrder().reverse().map((m) =>
      h("li", { class: "sent", dataset: { messageId: m.message_id } }, h("span", { class: "muted" }, `${m.from_user} → ${m.to_user || "-"} · ${clock(m.at)}`), " ", m.text)));
  }
  if (!s.live && (what.has("all") || what.has("summary"))) renderFollowSummary(s);
}

// ------------------------------------------------------------------ start

const conn = new Connection({
  hello: () => ({ call_id: followId }),
  onMessage,
  onStatus: showStatus,
});

setInterval(() => {
  for (const td of document.querySelectorAll("#live td.duration")) {
    const s = calls.get(/** @type {HTMLElement} */ (td.parentElement).dataset.callId || "");
    if (s) td.textContent = duration(s.elapsed(serverNow()));
  }
}, 1000);
setInterval(() => dirty("recent", "summary"), 15000);

await loadLang(chosenLang());
setupChrome(() => {
  frameFor = null;
  dirty("all");
});
setupErrorBox();
showStatus("connecting");
conn.start();
