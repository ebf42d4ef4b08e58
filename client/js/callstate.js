// @ts-check
// What the page knows about one call, merged from snapshots and live events in any order:
// segments by segment_id (a final replaces its partial, never the reverse), prompts by prompt_id, supervisor
// messages by message_id, acks by prompt_id, the summary by version, the delivery state by time.
// No DOM here: node's test runner loads this module as it is (client/tests/).
import { SEVERITY_RANK, rank } from "./severity.js";

export { SEVERITY_RANK };

/**
 * @typedef {{call_id: string, agent_id?: string | null, account_id?: string | null, language?: string | null,
 *   status?: string, protocol?: string | null, started_at?: string | null, ended_at?: string | null,
 *   duration?: number | null, end_reason?: string | null, clock_offset?: number | null,
 *   fallback_playbook?: string | null, transcribed?: boolean | null}} CallInfo
 * @typedef {{segment_id: string, speaker: string, index: number, start: number, end: number, text: string,
 *   final: boolean}} Segment
 * @typedef {{prompt_id: string, call_id?: string, kind: string, severity: string, audience?: string,
 *   text: string, rule?: string | null, source?: string | null, created_at: string,
 *   evidence?: {quote?: string, segment_ids?: string[]} | null, data?: any}} Prompt
 * @typedef {{message_id: string, call_id: string, from_user: string, to_user?: string | null, text: string,
 *   at: string}} Message
 * @typedef {{prompt_id: string, call_id: string, by_user: string, at: string}} Ack
 * @typedef {{call_id: string, version: number, state: string, summary: any, outcomes: string[],
 *   due_at?: string | null, release_at?: string | null, error?: string | null}} Draft
 * @typedef {{call_id: string, status: string, due_at?: string | null, as_of: string,
 *   deliveries: {target: string, status: string, last_error?: string | null}[]}} Delivery
 * @typedef {{key: string, done: boolean, at?: number | null, label?: string | null}} ChecklistItem
 * @typedef {{type: string, call_id: string, [k: string]: any}} FeedEvent
 */

// kinds shown in their own panel, never as a line of advice
export const PANEL_KINDS = ["account_card", "temperament", "promise", "plan", "summary"];

/** @param {Prompt} p */
export function isAlert(p) {
  return (p.audience === "supervisor" || p.audience === "both") && p.severity !== "info";
}

/**
 * A warning the agent must not miss: any compliance prompt, or anything critical.
 * @param {Prompt} p
 */
export function isWarning(p) {
  return p.kind === "compliance" || p.severity === "critical";
}

/**
 * Milliseconds since the epoch of an ISO time, keeping its microseconds (offsets differ: compare numbers,
 * not strings; prompts a coach emits together are microseconds apart).
 * @param {string | null | undefined} iso
 */
export function ms(iso) {
  if (!iso) return 0;
  const micro = /\.\d{3}(\d{1,3})/.exec(iso);
  return Date.parse(iso) + (micro ? Number(micro[1].padEnd(3, "0")) / 1000 : 0);
}

/**
 * The later of two prompts, the same whichever order they arrived in.
 * @param {Prompt} p
 * @param {Prompt} q
 */
function isLater(p, q) {
  const a = ms(p.created_at);
  const b = ms(q.created_at);
  return a > b || (a === b && p.prompt_id > q.prompt_id);
}

/** @param {Prompt} a @param {Prompt} b */
export function newestFirst(a, b) {
  return isLater(a, b) ? -1 : isLater(b, a) ? 1 : 0;
}

/** @param {Prompt} a @param {Prompt} b */
export function bySeverityThenNewest(a, b) {
  return rank(a.severity) - rank(b.severity) || newestFirst(a, b);
}

/**
 * The suggested line of a prompt (what to say), if it has one.
 * @param {Prompt | null | undefined} p
 * @returns {string | null}
 */
export function sayLine(p) {
  const say = p && p.data ? p.data.say : null;
  if (Array.isArray(say) && say.length && typeof say[0] === "string") return say[0];
  return typeof say === "string" && say ? say : null;
}

export class CallState {
  /** @param {CallInfo} call */
  constructor(call) {
    /** @type {CallInfo} */
    this.call = { ...call };
    /** @type {Map<string, Segment>} */
    this.segments = new Map();
    /** @type {Map<string, Prompt>} */
    this.prompts = new Map();
    /** @type {Map<string, Message>} */
    this.messages = new Map();
    /** @type {Map<string, Ack>} */
    this.acks = new Map();
    /** @type {Draft | null} */
    this.summary = null;
    /** @type {Delivery | null} */
    this.delivery = null;
  }

  get id() {
    return this.call.call_id;
  }

  get live() {
    return this.call.status !== "ended";
  }

  // ---- merging

  /** @param {Partial<CallInfo>} info */
  mergeCall(info) {
    const old = this.call;
    this.call = { ...old, ...Object.fromEntries(Object.entries(info).filter(([, v]) => v !== null && v !== undefined)) };
    if (old.status === "ended") this.call.status = "ended"; // an ended call never comes back
  }

  /** @param {{call: CallInfo, transcript?: Segment[], prompts?: Prompt[], messages?: Message[], acks?: Ack[],
   *   summary?: Draft | null, delivery?: Delivery | null}} f */
  mergeFollow(f) {
    this.mergeCall(f.call);
    for (const s of f.transcript || []) this.addSegment(s);
    for (const p of f.prompts || []) this.addPrompt(p);
    for (const m of f.messages || []) this.addMessage(m);
    for (const a of f.acks || []) this.addAck(a);
    if (f.summary) this.setSummary(f.summary);
    if (f.delivery) this.setDelivery(f.delivery);
  }

  /**
   * Returns true if anything changed.
   * @param {FeedEvent} ev
   */
  applyEvent(ev) {
    switch (ev.type) {
      case "call_started":
        this.mergeCall({ call_id: ev.call_id, agent_id: ev.agent_id, account_id: ev.account_id, language: ev.language,
                         protocol: ev.protocol, started_at: ev.started_at, status: "live", transcribed: ev.transcribed,
                         clock_offset: ev.meta && typeof ev.meta.clock_offset === "number" ? ev.meta.clock_offset : null });
        return true;
      case "call_updated":
        this.mergeCall({ agent_id: ev.agent_id, account_id: ev.account_id, language: ev.language });
        return true;
      case "call_ended":
        this.mergeCall({ status: "ended", ended_at: ev.ended_at, duration: ev.duration, end_reason: ev.reason });
        for (const [id, s] of this.segments) if (!s.final) this.segments.delete(id);
        return true;
      case "segment":
        return this.addSegment(/** @type {Segment} */ (/** @type {unknown} */ (ev)));
      case "prompt":
        return this.addPrompt(/** @type {Prompt} */ (/** @type {unknown} */ (ev)));
      default:
        return false;
    }
  }

  /** @param {Segment} s */
  addSegment(s) {
    const old = this.segments.get(s.segment_id);
    if (old && old.final && !s.final) return false;
    if (old && !s.final && s.end < old.end) return false;
    if (!s.final && !this.live) return false;
    this.segments.set(s.segment_id, { segment_id: s.segment_id, speaker: s.speaker, index: s.index, start: s.start,
                                      end: s.end, text: s.text, final: s.final });
    return true;
  }

  /** @param {Prompt} p */
  addPrompt(p) {
    if (this.prompts.has(p.prompt_id)) return false;
    this.prompts.set(p.prompt_id, p);
    return true;
  }

  /** @param {Message} m */
  addMessage(m) {
    if (this.messages.has(m.message_id)) return false;
    this.messages.set(m.message_id, m);
    return true;
  }

  /** @param {Ack} a */
  addAck(a) {
    if (this.acks.has(a.prompt_id)) return false;
    this.acks.set(a.prompt_id, a);
    return true;
  }

  /** @param {Draft} d */
  setSummary(d) {
    const cur = this.summary;
    if (cur && (d.version < cur.version || (d.version === cur.version && d.state === cur.state))) return false;
    this.summary = d;
    return true;
  }

  /** @param {Delivery} d */
  setDelivery(d) {
    if (this.delivery && ms(d.as_of) < ms(this.delivery.as_of)) return false;
    this.delivery = d;
    return true;
  }

  // ---- derived views

  /** @returns {Segment[]} */
  transcript() {
    return [...this.segments.values()].sort((a, b) => a.start - b.start || a.index - b.index);
  }

  /** @param {string} kind @returns {Prompt | null} */
  latest(kind) {
    /** @type {Prompt | null} */
    let best = null;
    for (const p of this.prompts.values()) {
      if (p.kind === kind && (!best || isLater(p, best))) best = p;
    }
    return best;
  }

  accountCard() {
    const p = this.latest("account_card");
    return p ? p.data : null;
  }

  /**
   * Union of every disclosure prompt's checklist: an item once said stays said.
   * @returns {ChecklistItem[]}
   */
  checklist() {
    /** @type {Map<string, ChecklistItem>} */
    const items = new Map();
    const ordered = [...this.prompts.values()].filter((p) => p.kind === "disclosure" && p.data && p.data.checklist)
      .sort((a, b) => -newestFirst(a, b));
    for (const p of ordered) {
      for (const [key, v] of Object.entries(p.data.checklist)) {
        const old = items.get(key);
        items.set(key, old && old.done ? old : { key, ...v });
      }
    }
    // after the call the summary has the coach's final word on every item
    const final = this.summary && this.summary.summary.compliance ? this.summary.summary.compliance.disclosures || [] : [];
    for (const d of final) {
      const old = items.get(d.key);
      if (!old || (!old.done && d.done)) items.set(d.key, { ...d, label: d.label || (old && old.label) || d.key });
    }
    return [...items.values()];
  }

  /**
   * A disclosure reminder whose items have all been said since is history.
   * @param {Prompt} p
   * @param {Set<string>} [said]
   */
  isStale(p, said) {
    if (p.kind !== "disclosure" || !p.data || !Array.isArray(p.data.missing)) return false;
    const done = said || new Set(this.checklist().filter((it) => it.done).map((it) => it.key));
    return p.data.missing.every((/** @type {string} */ k) => done.has(k));
  }

  /**
   * Prompts worth a line in the list, most severe first, newest first within a severity.
   * @param {{exclude?: string[]}} [opts]
   */
  orderedPrompts({ exclude = [] } = {}) {
    return [...this.prompts.values()]
      .filter((p) => !exclude.includes(p.kind) && !(p.kind === "disclosure" && p.severity === "info"))
      .sort(bySeverityThenNewest);
  }

  warnings() {
    return this.orderedPrompts().filter(isWarning);
  }

  /**
   * The customer's temperament as one label with its trend: the latest type (dominant, sensitive, …), whether
   * they are angry now, and whether anger is rising or calming (from the last two temperament prompts).
   * @returns {{prompt: Prompt, label: string, typeLabel: string | null, angry: boolean,
   *   trend: "up" | "down" | null, say: string | null, avoid: string | null} | null}
   */
  temperament() {
    const list = [...this.prompts.values()].filter((p) => p.kind === "temperament").sort(newestFirst);
    if (!list.length) return null;
    const p = list[0];
    const d = p.data || {};
    const typed = list.find((q) => q.data && q.data.type_label);
    const label = d.type_label ? d.label : typed ? typed.data.label : d.label || "neutral";
    const typeLabel = d.type_label || (typed ? typed.data.type_label : null);
    /** @type {"up" | "down" | null} */
    let trend = null;
    if (list.length > 1) {
      const now = Number(d.anger_level);
      const before = Number((list[1].data || {}).anger_level);
      if (Number.isFinite(now) && Number.isFinite(before) && now !== before) trend = now > before ? "up" : "down";
    }
    return { prompt: p, label: label || "neutral", typeLabel, angry: Boolean(d.angry), trend, say: sayLine(p),
             avoid: d.avoid || null };
  }

  /**
   * The prompts that could be the "now" card, the one to show first: open warnings, reminders of disclosures not
   * yet made, the de-escalation line while the customer is angry, and any other advice above "info" — most
   * severe first, the newest first within a severity.
   * @param {Set<string>} [dismissed] prompt ids the agent acknowledged
   * @returns {Prompt[]}
   */
  nowCandidates(dismissed = new Set()) {
    const said = new Set(this.checklist().filter((it) => it.done).map((it) => it.key));
    const temper = this.temperament();
    return [...this.prompts.values()].filter((p) => {
      if (dismissed.has(p.prompt_id) || p.audience === "supervisor") return false;
      if (p.kind === "temperament") return Boolean(temper && temper.prompt === p && temper.angry);
      if (PANEL_KINDS.includes(p.kind)) return false;
      // nothing is heard on a call without speech recognition: no disclosure can be judged missing
      if (p.kind === "disclosure") return p.severity !== "info" && this.call.transcribed !== false && !this.isStale(p, said);
      return isWarning(p) || p.severity !== "info";
    }).sort(bySeverityThenNewest);
  }

  alerts() {
    return [...this.prompts.values()].filter(isAlert).sort(newestFirst);
  }

  openAlerts() {
    return this.alerts().filter((p) => !this.acks.has(p.prompt_id));
  }

  /**
   * The risk prompts' own worst severity and the risk kinds seen (the console's risk column).
   * @returns {{level: string | null, kinds: string[]}}
   */
  risk() {
    const risks = [...this.prompts.values()].filter((p) => p.kind === "risk");
    /** @type {string | null} */
    let level = null;
    for (const p of risks) if (level === null || rank(p.severity) < rank(level)) level = p.severity;
    const kinds = [...new Set(risks.map((p) => (p.data && p.data.risk) || p.rule || "risk"))];
    return { level, kinds };
  }

  messagesInOrder() {
    return [...this.messages.values()].sort((a, b) => ms(a.at) - ms(b.at));
  }

  /**
   * Seconds since the call started; `nowMs` is the server's clock.  A call on a scenario clock (the demo)
   * carries `clock_offset`, the seconds its clock runs ahead of the server's.
   * @param {number} nowMs
   */
  elapsed(nowMs) {
    if (!this.call.started_at) return 0;
    if (this.call.status === "ended") {
      if (this.call.duration) return this.call.duration;
      if (this.call.ended_at) return (ms(this.call.ended_at) - ms(this.call.started_at)) / 1000;
    }
    return (nowMs + (this.call.clock_offset || 0) * 1000 - ms(this.call.started_at)) / 1000;
  }
}

/**
 * The state of a call in `calls`, created on first sight, else updated with what `call` says.
 * @param {Map<string, CallState>} calls
 * @param {CallInfo} call
 */
export function stateFor(calls, call) {
  let s = calls.get(call.call_id);
  if (!s) {
    s = new CallState(call);
    calls.set(call.call_id, s);
  } else {
    s.mergeCall(call);
  }
  return s;
}
