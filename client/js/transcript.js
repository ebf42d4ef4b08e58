// @ts-check
// A live transcript in a scrolling box, updated in place: one element per segment, agent and customer told
// apart, a faint partial replaced by its final (same segment_id); stays scrolled to the end unless the
// reader scrolled up.
import { fill, h } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {import("./callstate.js").CallState} CallState */

export class TranscriptView {
  /** @param {HTMLElement} box */
  constructor(box) {
    this.box = box;
    /** @type {Map<string, HTMLElement>} */
    this.els = new Map();
    // follow the last turn unless the reader scrolled up; a box that changes size (window resized, a card
    // above it grew) keeps following
    this.stick = true;
    box.addEventListener("scroll", () => { this.stick = this.nearBottom(); });
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => { if (this.stick) this.toEnd(); }).observe(box);
  }

  nearBottom() {
    const box = this.box;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  // show the last turns (a tab that was hidden comes back scrolled to the end)
  toEnd() {
    this.box.scrollTop = this.box.scrollHeight;
  }

  reset() {
    this.els.clear();
    this.box.replaceChildren();
  }

  /** @param {CallState | null | undefined} state */
  render(state) {
    const box = this.box;
    const nearBottom = this.stick || this.nearBottom();
    if (!state || !state.segments.size) {
      this.els.clear();
      fill(box, h("p", { class: "empty" }, t("transcript.none")));
      return;
    }
    if (box.querySelector(".empty")) box.replaceChildren();
    for (const [id, el] of this.els) {
      if (!state.segments.has(id)) {
        el.remove();
        this.els.delete(id);
      }
    }
    /** @type {ChildNode | null} */
    let prev = null;
    for (const seg of state.transcript()) {
      let el = this.els.get(seg.segment_id);
      if (!el) {
        el = h("div", { class: `seg ${seg.speaker}`, dataset: { segmentId: seg.segment_id } },
          h("span", { class: "who" }), h("span", { class: "text" }));
        this.els.set(seg.segment_id, el);
      }
      el.classList.toggle("partial", !seg.final);
      /** @type {HTMLElement} */ (el.querySelector(".who")).textContent = t(`speaker.${seg.speaker}`);
      /** @type {HTMLElement} */ (el.querySelector(".text")).textContent = seg.text;
      /** @type {ChildNode | null} */
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== el) box.insertBefore(el, want);
      prev = el;
    }
    if (nearBottom) box.scrollTop = box.scrollHeight;
  }
}
