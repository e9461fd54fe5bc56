// rpc.js — confapplet's browser protocol client (docs/protocol.md).
//
// No DOM here: the view (app.js) listens to the events this module emits.
//
//   const c = new ConfClient({ base: "ws://host:8080", clientId });
//   c.addEventListener("status", e => e.detail.state);   // connecting | open | reconnecting | closed
//   c.addEventListener("notify", e => e.detail);         // {method, params}, each seq at most once
//   c.connect();
//   const confid = await c.call("CreateConf", {});
//
// What it does:
//   - one WebSocket at /client/{clientId}; the client id is kept by the caller
//     (app.js keeps it in sessionStorage so a reload is the same client);
//   - reconnects by itself after a drop, with exponential backoff and full
//     jitter, and resumes: ?resume=confid:seq,... carries the last seq seen per
//     conference so the edge replays only what was missed;
//   - drops any notification whose seq it has already delivered for that
//     conference (replays after a reconnect, or a duplicate), so the view
//     never sees an event twice;
//   - requests get an id and a promise; a drop rejects the pending ones with
//     RpcError code CONN_LOST (the view says the outcome is unknown), except
//     those sent with {resend: true} (they carry an idempotency key, so
//     sending them again after the reconnect cannot dial twice).

/** Close codes of the edge (pkg/contract). */
export const Close = Object.freeze({
  GoingAway: 1001,
  TooBig: 1009,
  Replaced: 4000,
  SlowConsumer: 4001,
  NoPong: 4002,
  ServerFailure: 4003,
  TokenExpired: 4004,
});

/** tokenExp returns a JWT's exp claim in ms (0 when it has none or is not a JWT). */
export function tokenExp(token) {
  try {
    const p = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(p + "===".slice((p.length + 3) % 4))).exp;
    return typeof exp === "number" ? exp * 1000 : 0;
  } catch {
    return 0;
  }
}

/** Client-side error codes (outside JSON-RPC's and the server's ranges). */
export const Local = Object.freeze({
  NOT_CONNECTED: "not_connected",
  CONN_LOST: "conn_lost",
  TIMEOUT: "local_timeout",
});

/** An error answer of the server, or a local failure (code is then a string). */
export class RpcError extends Error {
  constructor(code, message, data, method) {
    super(message || String(code));
    this.name = "RpcError";
    this.code = code;
    this.data = data;
    this.method = method;
  }
}

/** newClientId returns a fresh id matching [A-Za-z0-9_-]{1,64}. */
export function newClientId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** newKey returns a fresh idempotency key. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return newClientId();
}

/** splitNumbers splits what a person typed into phone numbers: on '#', ',', ';', spaces (and their full-width forms). */
export function splitNumbers(text) {
  return String(text || "")
    .split(/[#＃,，;；、\s]+/u)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * backoff returns the delay before reconnect attempt n (0-based): a random
 * value in [base/2, min(max, base*2^n)] ("full jitter" with a floor, so a
 * thousand pages dropped at once by a restarting edge spread out).
 */
export function backoff(n, base = 500, max = 15000, rand = Math.random) {
  const cap = Math.min(max, base * 2 ** Math.min(n, 20));
  const lo = Math.min(base / 2, cap);
  return Math.round(lo + rand() * (cap - lo));
}

/** buildURL returns the WebSocket URL for clientId with the resume map. */
export function buildURL(base, clientId, lastSeq, extra = {}) {
  const u = new URL(base.replace(/\/+$/, "") + "/client/" + encodeURIComponent(clientId));
  const parts = [];
  for (const [confid, seq] of lastSeq) if (seq > 0) parts.push(confid + ":" + seq);
  // The edge splits on ',' and ':'; build the value by hand so they stay literal.
  let q = parts.length ? "resume=" + parts.join(",") : "";
  for (const [k, v] of Object.entries(extra)) {
    if (v) q += (q ? "&" : "") + encodeURIComponent(k) + "=" + encodeURIComponent(v);
  }
  u.search = q;
  return u.toString();
}

/** Notifications that carry an event seq (the others are edge notices). */
export const eventMethods = new Set([
  "OnConfCreate",
  "OnConfInviteJoin",
  "OnConfQuit",
  "OnConfDel",
  "OnConfDismiss",
  "OnConfMedia",
]);

export class ConfClient extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.base      ws:// or wss:// origin of the edge
   * @param {string} o.clientId  stable client id
   * @param {string} [o.operator] optional operator token
   * @param {string} [o.token] connection token (a JWT, docs/protocol.md 1.2a) for
   *   edges that require one; setToken replaces it before a reconnect
   * @param {function} [o.tokenSource] async () => token, asked for a fresh token
   *   before every connect and, on an open connection, when three quarters of
   *   the token's lifetime have passed (sent with RefreshToken)
   * @param {number} [o.timeout] per-request timeout in ms (default 15000)
   * @param {function} [o.WebSocket] WebSocket constructor (tests)
   */
  constructor(o) {
    super();
    this.base = o.base;
    this.clientId = o.clientId;
    this.operator = o.operator || "";
    this.token = o.token || "";
    this.tokenSource = o.tokenSource || null;
    this.refreshTimer = null;
    this.timeout = o.timeout || 15000;
    this.WS = o.WebSocket || globalThis.WebSocket;
    this.state = "closed";
    this.attempt = 0; // failed attempts since the last open
    this.lastSeq = new Map(); // confid -> last seq delivered to the view
    this.pending = new Map(); // id -> {method, params, resolve, reject, timer, resend}
    this.resendQueue = [];
    this.nextId = 1;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
    this.waiting = false; // a reconnect is scheduled (backoff timer)
    this.everOpened = false;
    this.lastClose = null;
  }

  /** connect opens the socket (and keeps it open until close()). */
  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.#open();
  }

  /** setToken sets the connection token used from the next connect on. */
  setToken(token) {
    this.token = token || "";
  }

  /** reconnectNow skips the current backoff wait. */
  reconnectNow() {
    if (this.stopped || !this.waiting) return; // only while waiting out a backoff
    this.connect();
  }

  /** close closes the socket for good. */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    if (this.ws) this.ws.close(1000, "bye");
    this.#setState("closed", {});
  }

  /** seen records seq as delivered for confid (after a GetConf rebuild). */
  seen(confid, seq) {
    if ((this.lastSeq.get(confid) || 0) < seq) this.lastSeq.set(confid, seq);
  }

  /** forget stops resuming confid (the conference ended). */
  forget(confid) {
    this.lastSeq.delete(confid);
  }

  /**
   * call sends one request and resolves with its result.
   * @param {string} method
   * @param {object|Array} params
   * @param {{resend?: boolean}} [opts] resend: send it again after a reconnect
   *   instead of failing (only for requests carrying an idempotency key).
   */
  call(method, params, opts = {}) {
    return new Promise((resolve, reject) => {
      if (this.state !== "open" && !opts.resend) {
        reject(new RpcError(Local.NOT_CONNECTED, "not connected", null, method));
        return;
      }
      const id = this.nextId++;
      const p = { id, method, params, resolve, reject, resend: !!opts.resend, timer: null };
      p.timer = setTimeout(() => {
        this.pending.delete(id);
        this.resendQueue = this.resendQueue.filter((q) => q !== p);
        reject(new RpcError(Local.TIMEOUT, "no answer in time", null, method));
      }, this.timeout);
      this.pending.set(id, p);
      if (this.state === "open") this.#send(p);
      else this.resendQueue.push(p);
    });
  }

  #send(p) {
    const msg = { jsonrpc: "2.0", id: p.id, method: p.method };
    if (p.params !== undefined) msg.params = p.params;
    try {
      this.ws.send(JSON.stringify(msg));
    } catch (e) {
      // The socket is closing; onclose decides whether p fails or waits.
    }
  }

  #setState(state, extra) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, attempt: this.attempt, ...extra } }));
  }

  async #open() {
    this.waiting = false;
    if (this.tokenSource) {
      try {
        this.token = await this.tokenSource();
      } catch (e) {
        this.#scheduleReconnect({ code: 0, reason: "no token: " + e });
        return;
      }
      if (this.stopped) return;
    }
    const url = buildURL(this.base, this.clientId, this.lastSeq, { operator: this.operator, token: this.token });
    this.#setState(this.everOpened ? "reconnecting" : "connecting", {});
    let ws;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this.#scheduleReconnect({ code: 0, reason: String(e) });
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const resumed = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.#setState("open", { resumed });
      this.#scheduleRefresh();
      const q = this.resendQueue;
      this.resendQueue = [];
      for (const p of q) if (this.pending.has(p.id)) this.#send(p);
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.#receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.refreshTimer);
      this.lastClose = { code: ev.code, reason: ev.reason };
      this.#failPending();
      if (this.stopped) {
        this.#setState("closed", { code: ev.code, reason: ev.reason });
        return;
      }
      if (ev.code === Close.Replaced) {
        // Another tab or window took over this client id: do not fight it.
        this.stopped = true;
        this.#setState("closed", { code: ev.code, reason: ev.reason, replaced: true });
        return;
      }
      this.#scheduleReconnect({ code: ev.code, reason: ev.reason });
    };
    ws.onerror = () => {
      // onclose follows and does the work.
    };
  }

  // #scheduleRefresh renews the token in-band (RefreshToken) when three
  // quarters of its remaining lifetime have passed; without a tokenSource
  // the edge closes the connection at exp (4004) and the reconnect fails
  // until setToken gives a fresh one.
  #scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const exp = tokenExp(this.token);
    if (!this.tokenSource || !exp) return;
    const ws = this.ws;
    this.refreshTimer = setTimeout(async () => {
      if (this.ws !== ws || this.state !== "open") return;
      try {
        const token = await this.tokenSource();
        await this.call("RefreshToken", [token]);
        this.token = token;
      } catch (e) {
        this.dispatchEvent(new CustomEvent("servererror", { detail: e }));
      }
      if (this.ws === ws) this.#scheduleRefresh();
    }, Math.max(1000, ((exp - Date.now()) * 3) / 4));
  }

  #failPending() {
    for (const p of this.pending.values()) {
      if (p.resend) {
        if (!this.resendQueue.includes(p)) this.resendQueue.push(p);
        continue;
      }
      clearTimeout(p.timer);
      this.pending.delete(p.id);
      p.reject(new RpcError(Local.CONN_LOST, "connection lost before the answer", null, p.method));
    }
  }

  #scheduleReconnect(close) {
    const delay = backoff(this.attempt);
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
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return;
    if (typeof msg.method === "string") {
      this.#notify(msg.method, msg.params || {});
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) {
      if (msg.error && msg.id === null) {
        this.dispatchEvent(new CustomEvent("servererror", { detail: new RpcError(msg.error.code, msg.error.message, msg.error.data) }));
      }
      return;
    }
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data, p.method));
    else p.resolve(msg.result);
  }

  #notify(method, params) {
    const confid = params.confid;
    if (eventMethods.has(method) && confid && typeof params.seq === "number") {
      const last = this.lastSeq.get(confid) || 0;
      if (params.seq <= last) return; // replayed or duplicated: already shown
      this.lastSeq.set(confid, params.seq);
    } else if (method === "OnConfEventsLost" && confid && typeof params.to === "number") {
      this.seen(confid, params.to); // delivery goes on with to+1 (docs/protocol.md 5.8)
    }
    this.dispatchEvent(new CustomEvent("notify", { detail: { method, params } }));
  }
}
