// @ts-check
// The page's one WebSocket to /ws: says hello (asking for a snapshot) on every (re)connect, reconnects with
// exponential backoff and jitter, pings, and queues actions made while disconnected.  State is merged by id
// (callstate.js), so a snapshot after a reconnect loses nothing and repeats nothing.

const PING_MS = 20000;
const SILENCE_MS = 50000; // no message for this long: the socket is dead, reconnect
const MAX_BACKOFF_MS = 10000;

export class Connection {
  /**
   * @param {{hello: () => Record<string, any>, onMessage: (msg: any) => void,
   *   onStatus: (state: string, retryMs?: number) => void}} handlers hello(): extra fields of the hello
   *   message (e.g. {call_id}); onMessage(msg) for every server message; onStatus(state, retryMs)
   */
  constructor({ hello, onMessage, onStatus }) {
    this.hello = hello;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    /** @type {Record<string, any>[]} actions waiting for the next snapshot */
    this.pending = [];
    this.ready = false;
    /** @type {{ping?: ReturnType<typeof setInterval>, silence?: ReturnType<typeof setTimeout>}} */
    this.timers = {};
  }

  start() {
    this.connect();
  }

  connect() {
    this.onStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      ws.send(JSON.stringify({ type: "hello", ...this.hello() }));
      this.alive();
      this.timers.ping = setInterval(() => this.send({ type: "ping", t: performance.now() }), PING_MS);
    };
    ws.onmessage = (e) => {
      this.alive();
      const msg = JSON.parse(e.data);
      if (msg.type === "snapshot" && !this.ready) {
        this.ready = true;
        this.onStatus("open");
        this.onMessage(msg);
        this.flush();
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (e) => this.closed(e.code);
  }

  alive() {
    clearTimeout(this.timers.silence);
    this.timers.silence = setTimeout(() => this.ws && this.ws.close(), SILENCE_MS);
  }

  /** @param {number} code */
  async closed(code) {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.silence);
    this.ready = false;
    this.ws = null;
    if (code === 4401) return this.toLogin();
    // a refused upgrade looks like any other failure: ask whether we are still signed in
    try {
      const res = await fetch("/ui/me", { cache: "no-store" });
      if (res.status === 401) return this.toLogin();
    } catch {
      // server unreachable: keep retrying
    }
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    this.onStatus("reconnecting", delay);
    setTimeout(() => this.connect(), delay);
  }

  toLogin() {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`);
  }

  /**
   * Send now if the stream is open, else after the next snapshot (actions are never dropped).
   * @param {Record<string, any>} msg
   */
  send(msg) {
    if (this.ready && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
    } else if (msg.type !== "ping") {
      this.pending.push(msg);
    }
  }

  flush() {
    const queued = this.pending;
    this.pending = [];
    for (const m of queued) this.send(m);
  }
}
