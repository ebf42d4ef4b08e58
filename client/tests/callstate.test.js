// The call state's merge rules (client/js/callstate.js), run with node's built-in test runner:
//   node --test client/tests/
// A snapshot then live events, in any order and with duplicates, give the same state; an ended call stays
// ended; the "now" card is chosen by severity, then recency.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CallState, stateFor } from "../js/callstate.js";

/** @param {string} id @param {Partial<import("../js/callstate.js").Segment>} [over] */
function seg(id, over = {}) {
  return { segment_id: id, speaker: "customer", index: 0, start: 1, end: 2, text: "x", final: true, ...over };
}

/** @param {string} id @param {string} severity @param {string} at @param {Record<string, any>} [over] */
function prompt(id, severity, at, over = {}) {
  return { prompt_id: id, kind: "risk", severity, audience: "both", text: id, created_at: at, ...over };
}

test("a snapshot then events: a final replaces its partial, never the reverse", () => {
  const s = new CallState({ call_id: "c1", status: "live" });
  s.mergeFollow({ call: { call_id: "c1", status: "live" }, transcript: [seg("c1-0", { final: false, text: "我最", end: 1.5 })] });
  assert.equal(s.applyEvent({ type: "segment", call_id: "c1", ...seg("c1-0", { text: "我最近手头紧" }) }), true);
  // the same partial again (the snapshot and the live feed overlap), then a late partial: both ignored
  assert.equal(s.applyEvent({ type: "segment", call_id: "c1", ...seg("c1-0", { final: false, text: "我最", end: 1.5 }) }), false);
  assert.equal(s.addSegment(seg("c1-0", { final: false, text: "我最近", end: 1.8 })), false);
  assert.deepEqual(s.transcript().map((x) => [x.text, x.final]), [["我最近手头紧", true]]);
});

test("an older partial never replaces a newer one; segments sort by time whatever the arrival order", () => {
  const s = new CallState({ call_id: "c1", status: "live" });
  s.addSegment(seg("b", { start: 5, end: 6, index: 1 }));
  s.addSegment(seg("a", { final: false, start: 1, end: 3, text: "newer" }));
  assert.equal(s.addSegment(seg("a", { final: false, start: 1, end: 2, text: "older" })), false);
  assert.deepEqual(s.transcript().map((x) => x.segment_id), ["a", "b"]);
  assert.equal(s.transcript()[0].text, "newer");
});

test("duplicates merge away: prompts, messages, acks by id", () => {
  const s = new CallState({ call_id: "c1" });
  const p = prompt("p1", "high", "2026-12-03T10:00:00.000001Z");
  assert.equal(s.addPrompt(p), true);
  assert.equal(s.addPrompt({ ...p }), false);
  assert.equal(s.addMessage({ message_id: "m1", call_id: "c1", from_user: "sup", text: "hi", at: "2026-12-03T10:00:00Z" }), true);
  assert.equal(s.addMessage({ message_id: "m1", call_id: "c1", from_user: "sup", text: "hi", at: "2026-12-03T10:00:00Z" }), false);
  assert.equal(s.addAck({ prompt_id: "p1", call_id: "c1", by_user: "sup", at: "2026-12-03T10:00:01Z" }), true);
  assert.equal(s.addAck({ prompt_id: "p1", call_id: "c1", by_user: "sup2", at: "2026-12-03T10:00:02Z" }), false);
  assert.equal(s.prompts.size, 1);
  assert.equal(s.openAlerts().length, 0);
});

test("an ended call never comes back; its open partials go", () => {
  const s = new CallState({ call_id: "c1", status: "live", started_at: "2026-12-03T10:00:00Z" });
  s.addSegment(seg("p", { final: false }));
  s.applyEvent({ type: "call_ended", call_id: "c1", ended_at: "2026-12-03T10:05:00Z", duration: 300, reason: "hangup" });
  assert.equal(s.live, false);
  assert.equal(s.segments.size, 0);
  assert.equal(s.addSegment(seg("q", { final: false })), false); // a partial after the end is dropped
  s.mergeCall({ call_id: "c1", status: "live" }); // a stale snapshot row
  assert.equal(s.live, false);
  assert.equal(s.elapsed(Date.parse("2026-12-03T11:00:00Z")), 300);
});

test("the summary merges by version and the delivery state by time", () => {
  const s = new CallState({ call_id: "c1", status: "ended" });
  const draft = (version, state) => ({ call_id: "c1", version, state, summary: {}, outcomes: [] });
  assert.equal(s.setSummary(draft(2, "draft")), true);
  assert.equal(s.setSummary(draft(1, "draft")), false);
  assert.equal(s.setSummary(draft(2, "draft")), false);
  assert.equal(s.setSummary(draft(2, "submitted")), true);
  const dv = (status, as_of) => ({ call_id: "c1", status, as_of, deliveries: [] });
  assert.equal(s.setDelivery(dv("queued", "2026-12-03T10:00:02.000002Z")), true);
  assert.equal(s.setDelivery(dv("waiting_submit", "2026-12-03T10:00:02.000001Z")), false);
  assert.equal(s.delivery?.status, "queued");
});

test("the now card: most severe first, the newest within a severity; acknowledged and stale ones leave", () => {
  const s = new CallState({ call_id: "c1", status: "live" });
  s.addPrompt(prompt("old-high", "high", "2026-12-03T10:00:01Z"));
  s.addPrompt(prompt("new-high", "high", "2026-12-03T10:00:05Z"));
  s.addPrompt(prompt("medium", "medium", "2026-12-03T10:00:09Z"));
  s.addPrompt(prompt("info", "info", "2026-12-03T10:00:10Z"));
  s.addPrompt(prompt("sup-only", "critical", "2026-12-03T10:00:10Z", { audience: "supervisor" }));
  s.addPrompt(prompt("violation", "critical", "2026-12-03T10:00:02Z", { kind: "compliance" }));
  // a reminder of a disclosure made since is history
  s.addPrompt(prompt("remind", "medium", "2026-12-03T10:00:03Z", { kind: "disclosure", data: { missing: ["recording_notice"] } }));
  s.addPrompt(prompt("said", "info", "2026-12-03T10:00:04Z", { kind: "disclosure",
    data: { checklist: { recording_notice: { done: true, at: 4, label: "录音" } } } }));
  assert.deepEqual(s.nowCandidates().map((p) => p.prompt_id), ["violation", "new-high", "old-high", "medium"]);
  assert.deepEqual(s.nowCandidates(new Set(["violation"])).map((p) => p.prompt_id)[0], "new-high");
  // a call that is not transcribed: a reminder of a disclosure "not made" is noise
  const deaf = new CallState({ call_id: "c2", status: "live", transcribed: false });
  deaf.addPrompt(prompt("remind", "medium", "2026-12-03T10:00:03Z", { kind: "disclosure", data: { missing: ["identity"] } }));
  assert.deepEqual(deaf.nowCandidates(), []);
});

test("temperament: one label with its trend; the de-escalation line is a now card only while angry", () => {
  const s = new CallState({ call_id: "c1", status: "live" });
  s.addPrompt(prompt("t1", "high", "2026-12-03T10:00:01Z", { kind: "temperament",
    data: { label: "neutral", angry: true, anger_level: 0.9, say: ["我理解您现在很着急"] } }));
  let tm = s.temperament();
  assert.ok(tm);
  assert.equal(tm.angry, true);
  assert.equal(tm.label, "neutral");
  assert.equal(tm.say, "我理解您现在很着急");
  assert.deepEqual(s.nowCandidates().map((p) => p.prompt_id), ["t1"]);
  s.addPrompt(prompt("t2", "medium", "2026-12-03T10:00:09Z", { kind: "temperament",
    data: { label: "dominant", type_label: "强势型", angry: false, anger_level: 0.4, say: ["两个方案"] } }));
  tm = s.temperament();
  assert.ok(tm);
  assert.equal(tm.label, "dominant");
  assert.equal(tm.typeLabel, "强势型");
  assert.equal(tm.trend, "down");
  assert.equal(tm.angry, false);
  assert.deepEqual(s.nowCandidates().map((p) => p.prompt_id), []);
});

test("the risk column: the risk prompts' own severity, not the call's worst alert", () => {
  const s = new CallState({ call_id: "c1", status: "live" });
  s.addPrompt(prompt("v", "critical", "2026-12-03T10:00:01Z", { kind: "compliance" }));
  s.addPrompt(prompt("r", "high", "2026-12-03T10:00:02Z", { data: { risk: "hardship" } }));
  assert.deepEqual(s.risk(), { level: "high", kinds: ["hardship"] });
});

test("stateFor creates once and merges after; a scenario clock shifts the live timer", () => {
  /** @type {Map<string, CallState>} */
  const calls = new Map();
  const a = stateFor(calls, { call_id: "c1", status: "live", started_at: "2026-12-03T02:30:00Z" });
  const b = stateFor(calls, { call_id: "c1", agent_id: "agent-7", clock_offset: -3600 });
  assert.equal(a, b);
  assert.equal(calls.size, 1);
  assert.equal(b.call.agent_id, "agent-7");
  // server clock 03:30:10, scenario one hour behind: 10 s into the call
  assert.equal(b.elapsed(Date.parse("2026-12-03T03:30:10Z")), 10);
});
