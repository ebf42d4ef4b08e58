// A live transcript in a scrolling box, updated in place: one element per segment, agent and customer told
// apart, a faint partial replaced by its final (same segment_id); stays scrolled to the end unless the
// reader scrolled up.
import { fill, h } from "./dom.js";
import { t } from "./i18n.js";

export class TranscriptView {
  constructor(box) {
    this.box = box;
    this.els = new Map();
  }

  reset() {
    this.els.clear();
    this.box.replaceChildren();
  }

  render(state) {
    const box = this.box;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
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
    let prev = null;
    for (const seg of state.transcript()) {
      let el = this.els.get(seg.segment_id);
      if (!el) {
        el = h("div", { class: `seg ${seg.speaker}`, dataset: { segmentId: seg.segment_id } },
          h("span", { class: "who" }), h("span", { class: "text" }));
        this.els.set(seg.segment_id, el);
      }
      el.classList.toggle("partial", !seg.final);
      el.querySelector(".who").textContent = t(`speaker.${seg.speaker}`);
      el.querySelector(".text").textContent = seg.text;
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== el) box.insertBefore(el, want);
      prev = el;
    }
    if (nearBottom) box.scrollTop = box.scrollHeight;
  }
}
