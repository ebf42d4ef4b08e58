// What the page knows about one call, merged from snapshots and live events in any order:
// segments by segment_id (a final replaces its partial, never the reverse), prompts by prompt_id, supervisor
// messages by message_id, acks by prompt_id, the summary by version, the delivery state by time.

export const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, info: 3 };

export function isAlert(p) {
  return (p.audience === "supervisor" || p.audience === "both") && p.severity !== "info";
}

// a warning the agent must not miss: any compliance prompt, or anything critical
export function isWarning(p) {
  return p.kind === "compliance" || p.severity === "critical";
}

// milliseconds since the epoch of an ISO time, keeping its microseconds (offsets differ: compare numbers,
// not strings; prompts a coach emits together are microseconds apart)
export function ms(iso) {
  if (!iso) return 0;
  const micro = /\.\d{3}(\d{1,3})/.exec(iso);
  return Date.parse(iso) + (micro ? Number(micro[1].padEnd(3, "0")) / 1000 : 0);
}

// the later of two prompts, the same whichever order they arrived in
function isLater(p, q) {
  const a = ms(p.created_at);
  const b = ms(q.created_at);
  return a > b || (a === b && p.prompt_id > q.prompt_id);
}

function newestFirst(a, b) {
  return isLater(a, b) ? -1 : isLater(b, a) ? 1 : 0;
}

export class CallState {
  constructor(call) {
    this.call = { ...call };
    this.segments = new Map();
    this.prompts = new Map();
    this.messages = new Map();
    this.acks = new Map();
    this.summary = null;
    this.delivery = null;
  }

  get id() {
    return this.call.call_id;
  }

  get live() {
    return this.call.status !== "ended";
  }

  // ---- merging

  mergeCall(info) {
    const old = this.call;
    this.call = { ...old, ...Object.fromEntries(Object.entries(info).filter(([, v]) => v !== null && v !== undefined)) };
    if (old.status === "ended") this.call.status = "ended"; // an ended call never comes back
  }

  mergeFollow(f) {
    this.mergeCall(f.call);
    for (const s of f.transcript || []) this.addSegment(s);
    for (const p of f.prompts || []) this.addPrompt(p);
    for (const m of f.messages || []) this.addMessage(m);
    for (const a of f.acks || []) this.addAck(a);
    if (f.summary) this.setSummary(f.summary);
    if (f.delivery) this.setDelivery(f.delivery);
  }

  // returns true if anything changed
  applyEvent(ev) {
    switch (ev.type) {
      case "call_started":
        this.mergeCall({ call_id: ev.call_id, agent_id: ev.agent_id, account_id: ev.account_id, language: ev.language,
                         protocol: ev.protocol, started_at: ev.started_at, status: "live" });
        return true;
      case "call_updated":
        this.mergeCall({ agent_id: ev.agent_id, account_id: ev.account_id, language: ev.language });
        return true;
      case "call_ended":
        this.mergeCall({ status: "ended", ended_at: ev.ended_at, duration: ev.duration, end_reason: ev.reason });
        for (const [id, s] of this.segments) if (!s.final) this.segments.delete(id);
        return true;
      case "segment":
        return this.addSegment(ev);
      case "prompt":
        return this.addPrompt(ev);
      default:
        return false;
    }
  }

  addSegment(s) {
    const old = this.segments.get(s.segment_id);
    if (old && old.final && !s.final) return false;
    if (old && !s.final && s.end < old.end) return false;
    if (!s.final && !this.live) return false;
    this.segments.set(s.segment_id, { segment_id: s.segment_id, speaker: s.speaker, index: s.index, start: s.start,
                                      end: s.end, text: s.text, final: s.final });
    return true;
  }

  addPrompt(p) {
    if (this.prompts.has(p.prompt_id)) return false;
    this.prompts.set(p.prompt_id, p);
    return true;
  }

  addMessage(m) {
    if (this.messages.has(m.message_id)) return false;
    this.messages.set(m.message_id, m);
    return true;
  }

  addAck(a) {
    if (this.acks.has(a.prompt_id)) return false;
    this.acks.set(a.prompt_id, a);
    return true;
  }

  setSummary(d) {
    const cur = this.summary;
    if (cur && (d.version < cur.version || (d.version === cur.version && d.state === cur.state))) return false;
    this.summary = d;
    return true;
  }

  setDelivery(d) {
    if (this.delivery && ms(d.as_of) < ms(this.delivery.as_of)) return false;
    this.delivery = d;
    return true;
  }

  // ---- derived views

  transcript() {
    return [...this.segments.values()].sort((a, b) => a.start - b.start || a.index - b.index);
  }

  latest(kind) {
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

  // union of every disclosure prompt's checklist: an item once said stays said
  checklist() {
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

  // prompts worth a line in the list, most severe first, newest first within a severity
  orderedPrompts({ exclude = [] } = {}) {
    return [...this.prompts.values()]
      .filter((p) => !exclude.includes(p.kind) && !(p.kind === "disclosure" && p.severity === "info"))
      .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || newestFirst(a, b));
  }

  warnings() {
    return this.orderedPrompts().filter(isWarning);
  }

  alerts() {
    return [...this.prompts.values()].filter(isAlert).sort(newestFirst);
  }

  openAlerts() {
    return this.alerts().filter((p) => !this.acks.has(p.prompt_id));
  }

  // highest alert severity and the risk kinds seen
  risk() {
    const alerts = this.alerts();
    let level = null;
    for (const p of alerts) if (level === null || SEVERITY_RANK[p.severity] < SEVERITY_RANK[level]) level = p.severity;
    const kinds = [...new Set([...this.prompts.values()].filter((p) => p.kind === "risk").map((p) => p.data.risk || p.rule))];
    return { level, kinds };
  }

  messagesInOrder() {
    return [...this.messages.values()].sort((a, b) => ms(a.at) - ms(b.at));
  }

  elapsed(nowMs) {
    if (!this.call.started_at) return 0;
    if (this.call.status === "ended") {
      if (this.call.duration) return this.call.duration;
      if (this.call.ended_at) return (new Date(this.call.ended_at) - new Date(this.call.started_at)) / 1000;
    }
    return (nowMs - new Date(this.call.started_at).getTime()) / 1000;
  }
}
