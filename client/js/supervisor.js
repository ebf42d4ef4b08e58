// The supervisor console: every live call of the team (agent, account, duration, stage, temperament, risk,
// open alerts) updating live; the alert feed with acknowledge; one followed call's transcript and prompts
// with a message box to its agent; the recently ended calls with CRM delivery state and deadline.
import { CallState, SEVERITY_RANK, isAlert } from "./callstate.js";
import { setupChrome, setupErrorBox, showError, showStatus, showUser } from "./chrome.js";
import { Connection } from "./connection.js";
import { clock, dateTime, duration, fill, h, markSeen, serverNow, setServerTime, severityLabel } from "./dom.js";
import { chosenLang, has, loadLang, t } from "./i18n.js";
import { promptItem } from "./prompts.js";
import { TranscriptView } from "./transcript.js";

const calls = new Map(); // call_id -> CallState
const recent = new Map(); // call_id -> {alerts, delivery}
let followId = new URLSearchParams(location.hash.slice(1)).get("call");
let followView = null;
let frameFor = null; // the call the follow panel was built for (rebuilt only when that changes)
const $ = (id) => document.getElementById(id);

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

// ------------------------------------------------------------------ messages from the server

function onMessage(msg) {
  switch (msg.type) {
    case "snapshot": {
      setServerTime(msg.server_time);
      showUser(msg.user);
      const live = new Set(msg.live_calls.map((r) => r.call.call_id));
      for (const row of msg.live_calls) {
        const s = stateFor(row.call);
        for (const p of row.prompts) s.addPrompt(p);
        for (const a of row.acks) s.addAck(a);
      }
      for (const row of msg.recent_calls) {
        const s = stateFor(row.call);
        recent.set(row.call.call_id, { alerts: row.alerts });
        if (row.delivery) s.setDelivery(row.delivery);
      }
      if (msg.reason === "hello") {
        for (const [id, s] of calls) if (s.live && !live.has(id) && id !== followId) calls.delete(id);
      }
      if (msg.follow) stateFor(msg.follow.call).mergeFollow(msg.follow);
      dirty("all");
      break;
    }
    case "event": {
      const ev = msg.event;
      const s = calls.get(ev.call_id) || stateFor({ call_id: ev.call_id, status: "live" });
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
      if (stateFor({ call_id: msg.call_id }).addAck(msg)) dirty("prompts");
      break;
    case "supervisor_message":
      if (stateFor({ call_id: msg.call_id }).addMessage(msg) && msg.call_id === followId) dirty("messages");
      break;
    case "delivery_state":
      if (stateFor({ call_id: msg.call_id }).setDelivery(msg)) dirty("recent");
      break;
    case "error":
      showError(msg.status === 403 ? `${t("error.forbidden")} (${msg.message})` : t("error.generic", { message: msg.message }));
      break;
    default:
      break;
  }
}

function follow(callId) {
  if (callId === followId) return;
  followId = callId;
  history.replaceState(null, "", callId ? `#call=${encodeURIComponent(callId)}` : location.pathname);
  followView = null;
  conn.send({ type: "subscribe", call_id: callId });
  dirty("all");
}

// ------------------------------------------------------------------ rendering (batched per task)

const pending = new Set();
let scheduled = false;

function dirty(what) {
  pending.add(what);
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
  if (all) renderFollowFrame();
  if (all || pending.has("prompts") || pending.has("messages") || pending.has("transcript")) renderFollow(pending);
  pending.clear();
  const seen = [];
  for (const s of calls.values()) for (const p of s.prompts.values()) if (isAlert(p) || s.id === followId) seen.push(p.prompt_id);
  markSeen(seen);
}

function liveCalls() {
  return [...calls.values()].filter((s) => s.live)
    .sort((a, b) => Date.parse(a.call.started_at || 0) - Date.parse(b.call.started_at || 0));
}

function temperamentCell(s) {
  const p = s.latest("temperament");
  if (!p) return "-";
  const d = p.data || {};
  const label = d.type_label || (has(`temperament.${d.label}`) ? t(`temperament.${d.label}`) : d.label || "-");
  return h("span", {}, h("span", { class: `badge temper-${d.label || "neutral"}` }, label),
    d.angry ? h("span", { class: "badge angry" }, t("temperament.angry")) : null);
}

function riskCell(s) {
  const { level, kinds } = s.risk();
  if (!level) return h("span", { class: "muted" }, t("risk.none"));
  const names = kinds.map((k) => (has(`risk.${k}`) ? t(`risk.${k}`) : k));
  return h("span", {}, h("span", { class: `badge sev-${level}` }, severityLabel(level)), names.length ? ` ${names.join("、")}` : "");
}

function accountCell(s) {
  const card = s.accountCard();
  return h("span", {}, card && card.name ? `${card.name} ` : "", h("span", { class: "muted" }, s.call.account_id || (card && card.account_id) || "-"));
}

function renderLive() {
  const rows = liveCalls();
  $("live-count").textContent = rows.length ? `(${rows.length})` : "";
  const body = $("live").tBodies[0];
  if (!rows.length) {
    fill(body, h("tr", {}, h("td", { colspan: "7", class: "empty" }, t("supervisor.no_live"))));
    return;
  }
  fill(body, ...rows.map((s) => {
    const card = s.accountCard();
    const open = s.openAlerts().length;
    return h("tr", { class: `call-row${s.id === followId ? " selected" : ""}`, dataset: { callId: s.id }, tabindex: "0",
      onclick: () => follow(s.id), onkeydown: (e) => { if (e.key === "Enter") follow(s.id); } },
      h("td", {}, s.call.agent_id || "-"),
      h("td", {}, accountCell(s)),
      h("td", { class: "duration" }, duration(s.elapsed(serverNow()))),
      h("td", {}, card ? card.stage || "-" : "-"),
      h("td", {}, temperamentCell(s)),
      h("td", {}, riskCell(s)),
      h("td", {}, h("span", { class: `count-badge${open ? " hot" : ""}` }, String(open))));
  }));
}

function renderRecent() {
  const ids = [...recent.keys()].filter((id) => calls.has(id) && !calls.get(id).live)
    .sort((a, b) => Date.parse(calls.get(b).call.ended_at || 0) - Date.parse(calls.get(a).call.ended_at || 0)).slice(0, 30);
  const body = $("recent").tBodies[0];
  if (!ids.length) {
    fill(body, h("tr", {}, h("td", { colspan: "7", class: "empty" }, t("supervisor.no_recent"))));
    return;
  }
  fill(body, ...ids.map((id) => {
    const s = calls.get(id);
    const dv = s.delivery;
    const status = dv ? dv.status : "awaiting_summary";
    const done = status === "delivered" || status === "no_targets";
    const left = dv && dv.due_at ? (Date.parse(dv.due_at) - serverNow()) / 1000 : null;
    return h("tr", { class: "recent-row", dataset: { callId: id }, onclick: () => follow(id) },
      h("td", {}, s.call.agent_id || "-"),
      h("td", {}, accountCell(s)),
      h("td", {}, dateTime(s.call.ended_at)),
      h("td", {}, duration(s.elapsed(serverNow()))),
      h("td", {}, String(Math.max(recent.get(id).alerts || 0, s.alerts().length))),
      h("td", {}, h("span", { class: `delivery-status st-${status}` }, t(`delivery.${status}`))),
      h("td", { class: `deadline${left !== null && left < 0 && !done ? " overdue" : ""}` },
        left === null || done ? "-" : left >= 0 ? t("delivery.time_left", { t: duration(left) }) : t("delivery.overdue", { t: duration(-left) })));
  }));
}

function ackButton(s, p) {
  const ack = s.acks.get(p.prompt_id);
  if (ack) return h("p", { class: "acked" }, t("supervisor.acked", { user: ack.by_user }));
  return h("button", { type: "button", class: "ack", onclick: (e) => { e.stopPropagation(); conn.send({ type: "ack_alert", prompt_id: p.prompt_id }); } },
    t("supervisor.ack"));
}

function renderAlerts() {
  const items = [];
  for (const s of calls.values()) for (const p of s.alerts()) items.push([s, p]);
  // open alerts first, the most severe first, then the newest
  items.sort(([sa, a], [sb, b]) => Number(sa.acks.has(a.prompt_id)) - Number(sb.acks.has(b.prompt_id))
    || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || Date.parse(b.created_at) - Date.parse(a.created_at));
  const open = items.filter(([s, p]) => !s.acks.has(p.prompt_id)).length;
  $("alert-count").textContent = open ? `(${open})` : "";
  fill($("alerts"), ...(items.length ? items.slice(0, 100).map(([s, p]) => {
    const li = promptItem(p, h("p", { class: "who" }, `${s.call.agent_id || "-"} · ${s.call.account_id || "-"}`), ackButton(s, p));
    li.classList.add("alert");
    li.classList.toggle("is-acked", s.acks.has(p.prompt_id));
    li.addEventListener("click", () => follow(s.id));
    return li;
  }) : [h("li", { class: "empty" }, t("supervisor.no_alerts"))]));
}

// the followed call: header, transcript, prompts, messages and the message box (built once per call)
function renderFollowFrame() {
  const box = $("follow");
  const s = followId ? calls.get(followId) : null;
  const title = t("supervisor.follow", { call: s && s.call.agent_id ? `${s.call.agent_id} · ${s.call.account_id || followId}` : followId });
  if (followId && followView && frameFor === followId) {
    box.querySelector(".follow-head h2").textContent = title;
    return;
  }
  frameFor = followId;
  if (!followId) {
    fill(box, h("p", { class: "empty" }, t("supervisor.follow_hint")));
    followView = null;
    return;
  }
  const input = h("input", { id: "message-text", type: "text", maxlength: "1000", placeholder: t("supervisor.message") });
  const send = () => {
    const text = input.value.trim();
    if (!text) return;
    conn.send({ type: "send_message", call_id: followId, text });
    input.value = "";
  };
  fill(box,
    h("header", { class: "follow-head" },
      h("h2", {}, title),
      h("button", { type: "button", class: "link", onclick: () => follow(null) }, t("supervisor.unfollow"))),
    h("div", { class: "follow-grid" },
      h("div", {}, h("h3", {}, t("section.transcript")), h("div", { id: "follow-transcript", class: "transcript" })),
      h("div", {}, h("h3", {}, t("section.prompts")), h("ol", { id: "follow-prompts", class: "prompts" }))),
    h("form", { class: "message-form", onsubmit: (e) => { e.preventDefault(); send(); } },
      input, h("button", { type: "submit", id: "message-send", class: "primary" }, t("supervisor.send"))),
    h("ol", { id: "follow-messages", class: "sent-messages" }));
  followView = new TranscriptView($("follow-transcript"));
}

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
}

// ------------------------------------------------------------------ start

const conn = new Connection({
  hello: () => ({ call_id: followId }),
  onMessage,
  onStatus: showStatus,
});

setInterval(() => {
  for (const td of document.querySelectorAll("#live td.duration")) {
    const s = calls.get(td.parentElement.dataset.callId);
    if (s) td.textContent = duration(s.elapsed(serverNow()));
  }
}, 1000);
setInterval(() => dirty("recent"), 15000);

await loadLang(chosenLang());
setupChrome(() => {
  frameFor = null;
  dirty("all");
});
setupErrorBox();
showStatus("connecting");
conn.start();
