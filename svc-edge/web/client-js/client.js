// client.js — ConfClient: one WebSocket to an edge, kept open until close().
//
// The protocol is docs/protocol.md; what this file adds to a bare
// WebSocket is what every client of it has to get right:
//   - reconnecting after every drop except 1000 (we closed) and 4000 (a
//     newer connection of the same client id took over: two tabs must not
//     fight), with backoff and full jitter so that the clients a restarting
//     edge drops do not all come back at the same instant;
//   - resuming: ?resume=confid:seq,... names the last event seen of each
//     conference, so the edge replays only what was missed, and the client
//     drops any event whose seq it has already delivered, so handlers see
//     each event exactly once across reconnects;
//   - the connection token: a fresh one from the app's tokenSource before
//     every connect, renewed in-band (RefreshToken) when three quarters of
//     its lifetime have passed, so the edge never closes a healthy
//     connection with 4004;
//   - calls as promises with a timeout and an optional AbortSignal, failing
//     with an error class that says whether the server refused (RpcError),
//     the connection failed (ConnectionError) or nobody answered in time
//     (TimeoutError).
//
// It runs wherever a WebSocket constructor does: browsers, Node 22+, and
// Node 20 with --experimental-websocket (or a library passed as
// options.WebSocket). No DOM is used.

import { Close, MethodSpecs, eventNotifications } from "./contract.js";
import { ConnectionError, LocalCode, RpcError, TimeoutError } from "./errors.js";
import { backoff, buildURL, tokenExp } from "./util.js";

const EVENTS = new Set(eventNotifications);

// A call's default timeout is the server's deadline for the method plus
// this slack: the edge itself answers -32001 when its deadline passes, so
// when the client gives up first the answer is lost, not merely late.
const DEADLINE_SLACK_MS = 5000;
const DEFAULT_TIMEOUT_MS = 15000; // methods this client version does not know

// A connection that stayed up this long was healthy: the next drop starts
// the backoff from its base again, while an edge that accepts and drops at
// once keeps the client backing off further.
const STABLE_MS = 30000;

// When to renew the token, as a share of its remaining lifetime (the edge
// closes the connection at exp, docs/protocol.md section 1.2a).
const REFRESH_AT = 0.75;

export class ConfClient extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.url ws:// or wss:// address of the edge (origin only; "base" is accepted too)
   * @param {string} o.clientId the stable client id, ^[A-Za-z0-9_-]{1,64}$
   * @param {string} [o.token] connection token, for edges that require one
   * @param {() => Promise<string>|string} [o.tokenSource] asked for a fresh token before every
   *   connect and when three quarters of the current one's lifetime have passed
   * @param {string} [o.operator] operator token (query parameter `operator`)
   * @param {number} [o.timeout] default timeout of every call in ms (else per method)
   * @param {{base?: number, max?: number}} [o.backoff] reconnect backoff bounds in ms
   * @param {typeof WebSocket} [o.WebSocket] WebSocket constructor (default: the global one)
   */
  constructor(o = {}) {
    super();
    this.url = o.url || o.base;
    if (!this.url) throw new TypeError("ConfClient: url is required");
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.clientId || "")) throw new TypeError("ConfClient: clientId must match ^[A-Za-z0-9_-]{1,64}$");
    this.clientId = o.clientId;
    this.operator = o.operator || "";
    this.token = o.token || "";
    this.tokenSource = o.tokenSource || null;
    this.timeout = o.timeout || 0;
    this.backoffBase = (o.backoff && o.backoff.base) || 500;
    this.backoffMax = (o.backoff && o.backoff.max) || 15000;
    this.WS = o.WebSocket || globalThis.WebSocket;
    if (!this.WS) {
      throw new TypeError("ConfClient: no WebSocket here: pass options.WebSocket (Node 20: run with --experimental-websocket)");
    }
    this.state = "closed"; // connecting | open | reconnecting | closed
    this.lastSeq = new Map(); // confid -> last event seq delivered
    this.watched = new Set(); // confids of explicit WatchConf calls, watched again after a reconnect
    this.pending = new Map(); // id -> pending call
    this.resendQueue = []; // calls with resend: true waiting for the next connection
    this.nextId = 1;
    this.ws = null;
    this.attempt = 0; // failed attempts since the last stable connection
    this.openedAt = 0;
    this.timer = null; // reconnect
    this.refreshTimer = null;
    this.stopped = true;
    this.opening = false;
    this.waiting = false; // a reconnect is scheduled (backoff)
    this.everOpened = false;
    this.lastClose = null;
    this.openWaiters = [];
  }

  /**
   * connect opens the connection and keeps it open until close(). The
   * promise resolves once it is open; it rejects (ConnectionError) only if
   * the client is closed for good first: close(), or close code 4000.
   * Failed attempts before that are retried, reported as "status" events.
   * @returns {Promise<void>}
   */
  connect() {
    const opened = new Promise((resolve, reject) => {
      if (this.state === "open") resolve();
      else this.openWaiters.push({ resolve, reject });
    });
    this.stopped = false;
    if (!this.ws && !this.opening) {
      clearTimeout(this.timer);
      this.#open();
    }
    return opened;
  }

  /** reconnectNow skips the current backoff wait (e.g. when the browser is back online). */
  reconnectNow() {
    if (!this.stopped && this.waiting) this.connect().catch(() => {});
  }

  /** close closes the connection for good; pending calls fail with ConnectionError. */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "bye");
    this.#failPending({ code: 1000, reason: "closed by the client" });
    this.#settleWaiters(new ConnectionError(LocalCode.NotConnected, "the client was closed"));
    if (this.state !== "closed") this.#setState("closed", { code: 1000 });
  }

  /** setToken replaces the connection token used from the next connect on. */
  setToken(token) {
    this.token = token || "";
  }

  /** seen records seq as delivered for confid, e.g. after rebuilding a view with GetConf. */
  seen(confid, seq) {
    if ((this.lastSeq.get(confid) || 0) < seq) this.#setSeq(confid, seq);
  }

  /** forget stops resuming confid (the conference has ended). */
  forget(confid) {
    this.lastSeq.delete(confid);
    this.watched.delete(confid);
  }

  /**
   * on calls handler with the params of every notification named name
   * (e.g. "OnConfInviteJoin"), each event once; or with the detail of the
   * client's own events: "status", "notify" ({method, params} of every
   * notification), "token" ({exp} after a renewal), "error" (failures no
   * call reports: a token renewal, an error answer without an id).
   * @returns {() => void} a function that removes the handler
   */
  on(name, handler) {
    const listener = (e) => handler(e.detail);
    this.addEventListener(name, listener);
    return () => this.removeEventListener(name, listener);
  }

  /**
   * call sends one request and resolves with its result.
   * @param {string} method
   * @param {object|Array} [params] by name (object) or by position (array)
   * @param {{timeout?: number, signal?: AbortSignal, resend?: boolean}} [opts]
   *   timeout in ms; signal aborts the wait (not the command, which may
   *   still run); resend: keep the call across a reconnect and send it
   *   again instead of failing — only for calls that carry an
   *   idempotency_key, which makes the second sending harmless.
   */
  call(method, params, opts = {}) {
    const { signal, resend = false } = opts;
    const ms = opts.timeout || this.timeout || this.#deadline(method);
    return new Promise((resolve, reject) => {
      if (signal && signal.aborted) return reject(signal.reason);
      if (this.state !== "open" && !resend) {
        return reject(new ConnectionError(LocalCode.NotConnected, "not connected", method, this.lastClose));
      }
      const p = { id: this.nextId++, method, params, resend, resolve, reject, timer: null, done: null };
      const onAbort = () => p.done(signal.reason);
      p.done = (err, result) => {
        clearTimeout(p.timer);
        this.pending.delete(p.id);
        this.resendQueue = this.resendQueue.filter((q) => q !== p);
        if (signal) signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(result);
      };
      p.timer = setTimeout(() => p.done(new TimeoutError(method, ms)), ms);
      if (signal) signal.addEventListener("abort", onAbort, { once: true });
      this.pending.set(p.id, p);
      if (this.state === "open") this.#send(p);
      else this.resendQueue.push(p);
    });
  }

  #deadline(method) {
    const spec = MethodSpecs[method];
    return spec ? spec.deadlineMs + DEADLINE_SLACK_MS : DEFAULT_TIMEOUT_MS;
  }

  #send(p) {
    const msg = { jsonrpc: "2.0", id: p.id, method: p.method };
    if (p.params !== undefined) msg.params = p.params;
    try {
      this.ws.send(JSON.stringify(msg));
    } catch {
      // The socket is closing: its close handler fails the call or keeps it for resending.
    }
  }

  #setState(state, extra) {
    this.state = state;
    this.#dispatch("status", { state, attempt: this.attempt, ...extra });
  }

  #dispatch(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  #settleWaiters(err) {
    const ws = this.openWaiters;
    this.openWaiters = [];
    for (const w of ws) err ? w.reject(err) : w.resolve();
  }

  async #open() {
    this.waiting = false;
    this.opening = true;
    if (this.tokenSource) {
      try {
        this.token = await this.tokenSource();
      } catch (e) {
        this.opening = false;
        this.#dispatch("error", e);
        if (!this.stopped) this.#scheduleReconnect({ code: 0, reason: "no token: " + ((e && e.message) || e) });
        return;
      }
    }
    this.opening = false;
    if (this.stopped || this.ws) return;
    const url = buildURL(this.url, this.clientId, this.lastSeq, { operator: this.operator, token: this.token });
    this.#setState(this.everOpened ? "reconnecting" : "connecting", {});
    let ws;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this.#scheduleReconnect({ code: 0, reason: String(e) });
      return;
    }
    this.ws = ws;
    let wasOpen = false;
    ws.onopen = () => {
      wasOpen = true;
      if (this.ws === ws) this.#opened();
    };
    ws.onmessage = (ev) => this.ws === ws && this.#receive(ev.data);
    ws.onclose = (ev) => this.ws === ws && this.#closed(ev);
    // Browsers follow an error with a close event, which does the work.
    // Node 20's WebSocket (undici) fires only the error when the handshake
    // fails (refused, HTTP 401 or 503) and stays CONNECTING: without this
    // fallback the client would wait forever.
    ws.onerror = () => {
      setTimeout(() => {
        if (this.ws !== ws || (wasOpen && ws.readyState !== 3)) return;
        try {
          ws.close();
        } catch {
          // already failed
        }
        this.#closed({ code: 1006, reason: "connection failed" });
      }, 50);
    };
  }

  #opened() {
    const resumed = this.everOpened;
    this.everOpened = true;
    this.openedAt = Date.now();
    this.#setState("open", { resumed });
    this.#scheduleRefresh();
    const q = this.resendQueue;
    this.resendQueue = [];
    for (const p of q) if (this.pending.has(p.id)) this.#send(p);
    // The resume list restores explicit watches the edge still allows;
    // asking again is harmless and covers conferences that had no event yet.
    for (const confid of this.watched) {
      this.call("WatchConf", [confid, this.lastSeq.get(confid) || 0]).catch((e) => this.#dispatch("error", e));
    }
    this.#settleWaiters(null);
  }

  #closed(ev) {
    this.ws = null;
    clearTimeout(this.refreshTimer);
    const close = { code: ev.code, reason: ev.reason };
    this.lastClose = close;
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    this.#failPending(close);
    if (this.stopped) {
      this.#setState("closed", close);
      return;
    }
    if (ev.code === Close.Replaced) {
      // Another tab or process took over this client id: do not fight it.
      this.stopped = true;
      this.#settleWaiters(new ConnectionError(LocalCode.NotConnected, "replaced by a newer connection", undefined, close));
      this.#setState("closed", { ...close, replaced: true });
      return;
    }
    this.#scheduleReconnect(close);
  }

  // #scheduleRefresh renews the token in-band when REFRESH_AT of its
  // remaining lifetime has passed. Without a tokenSource the edge closes
  // the connection at exp (4004) and reconnects fail until setToken.
  #scheduleRefresh(exp = tokenExp(this.token)) {
    clearTimeout(this.refreshTimer);
    if (!this.tokenSource || !exp) return;
    const ws = this.ws;
    const wait = Math.max(1000, (exp - Date.now()) * REFRESH_AT);
    this.refreshTimer = setTimeout(() => this.#refresh(ws, exp), wait);
  }

  async #refresh(ws, exp) {
    if (this.ws !== ws || this.state !== "open") return;
    try {
      const token = await this.tokenSource();
      const r = await this.call("RefreshToken", [token]);
      if (this.ws !== ws) return;
      this.token = token;
      this.#dispatch("token", { exp: r && r.exp });
      this.#scheduleRefresh();
    } catch (e) {
      this.#dispatch("error", e);
      // Try again while the old token lasts; once it has expired the edge
      // closes (4004) and the reconnect fetches a fresh one.
      if (this.ws === ws && exp - Date.now() > 2000) this.#scheduleRefresh(exp);
    }
  }

  #failPending(close) {
    for (const p of [...this.pending.values()]) {
      if (p.resend && !this.stopped) {
        if (!this.resendQueue.includes(p)) this.resendQueue.push(p);
        continue;
      }
      p.done(new ConnectionError(LocalCode.ConnectionLost, "connection lost before the answer", p.method, close));
    }
  }

  #scheduleReconnect(close) {
    // An edge going away (1001) and an expired token (4004) say nothing
    // about the next attempt: come back at once, spread over a second.
    const soon = close.code === Close.Shutdown || close.code === Close.TokenExpired;
    const delay = soon ? Math.round(Math.random() * 1000) : backoff(this.attempt, this.backoffBase, this.backoffMax);
    this.attempt++;
    this.#setState("reconnecting", { ...close, delay, retryAt: Date.now() + delay });
    this.waiting = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#open(), delay);
  }

  #receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return; // the edge sends only JSON text frames
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return;
    if (typeof msg.method === "string") {
      this.#notify(msg.method, msg.params || {});
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) {
      // id null: the edge could not read a request of ours (a bug here).
      if (msg.error && msg.id === null) this.#dispatch("error", new RpcError(msg.error.code, msg.error.message, msg.error.data));
      return; // else the answer of a call that timed out or was aborted
    }
    if (msg.error) {
      p.done(new RpcError(msg.error.code, msg.error.message, msg.error.data, p.method));
      return;
    }
    this.#track(p.method, p.params);
    p.done(null, msg.result);
  }

  // #track remembers explicit watches so that a reconnect restores them.
  #track(method, params) {
    if (method !== "WatchConf" && method !== "UnwatchConf") return;
    const confid = Array.isArray(params) ? params[0] : params && params.confid;
    if (method === "WatchConf") this.watched.add(confid);
    else this.watched.delete(confid);
  }

  #notify(method, params) {
    const confid = params.confid;
    if (EVENTS.has(method) && confid && typeof params.seq === "number") {
      if (params.seq <= (this.lastSeq.get(confid) || 0)) return; // replayed or duplicated: already delivered
      this.#setSeq(confid, params.seq);
    } else if (method === "OnConfEventsLost" && confid && typeof params.to === "number") {
      this.seen(confid, params.to); // delivery goes on with to+1 (docs/protocol.md 5.8)
    }
    this.#dispatch("notify", { method, params });
    this.#dispatch(method, params);
  }

  // #setSeq moves confid to the end of the Map: the resume list keeps the
  // most recently active conferences when it must be cut.
  #setSeq(confid, seq) {
    this.lastSeq.delete(confid);
    this.lastSeq.set(confid, seq);
  }
}
