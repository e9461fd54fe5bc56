// util.js — the client's pure helpers, exported for apps and tests.

/** tokenExp returns a JWT's exp claim in ms since the epoch (0 when it has none or is no JWT). */
export function tokenExp(token) {
  try {
    const p = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(p + "===".slice((p.length + 3) % 4))).exp;
    return typeof exp === "number" ? exp * 1000 : 0;
  } catch {
    return 0;
  }
}

/**
 * backoff returns the delay before reconnect attempt n (0-based): a random
 * value in [base/2, min(max, base*2^n)]. Full jitter spreads out a thousand
 * clients that a restarting edge dropped at once; the floor keeps a client
 * from hammering an edge that refuses it.
 */
export function backoff(n, base = 500, max = 15000, rand = Math.random) {
  const cap = Math.min(max, base * 2 ** Math.min(n, 20));
  const lo = Math.min(base / 2, cap);
  return Math.round(lo + rand() * (cap - lo));
}

/** The edge refuses a resume list of more than this many conferences (HTTP 400). */
export const MAX_RESUME = 256;

/**
 * buildURL returns the WebSocket URL for clientId, resuming every
 * conference of lastSeq (a Map confid → seq) that has seen an event; extra
 * query parameters with empty values are left out.
 */
export function buildURL(base, clientId, lastSeq, extra = {}) {
  const u = new URL(base.replace(/\/+$/, "") + "/client/" + encodeURIComponent(clientId));
  let parts = [];
  for (const [confid, seq] of lastSeq) if (seq > 0) parts.push(confid + ":" + seq);
  // The Map keeps insertion order: past the limit, the conferences seen
  // last are the ones still likely to be live.
  if (parts.length > MAX_RESUME) parts = parts.slice(-MAX_RESUME);
  // The edge splits on ',' and ':'; build the value by hand so they stay literal.
  let q = parts.length ? "resume=" + parts.join(",") : "";
  for (const [k, v] of Object.entries(extra)) {
    if (v) q += (q ? "&" : "") + encodeURIComponent(k) + "=" + encodeURIComponent(v);
  }
  u.search = q;
  return u.toString();
}

/** newClientId returns a fresh client id (it matches ^[A-Za-z0-9_-]{1,64}$). */
export function newClientId(prefix = "web-") {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** newKey returns a fresh idempotency key: one per user action, reused only for its retries. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return newClientId("k-");
}

/** splitNumbers splits what a person typed into phone numbers: on '#', ',', ';', spaces (and their full-width forms). */
export function splitNumbers(text) {
  return String(text || "")
    .split(/[#＃,，;；、\s]+/u)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
