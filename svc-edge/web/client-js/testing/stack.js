// stack.js — what the tests need from the running local stack. The Go
// harness (deploy/local, TestJSClient) starts `go run ./deploy/local` with a
// token key and passes where everything is in the environment:
//
//   CONFAPPLET_EDGE_URL     ws://host:port of svc-edge
//   CONFAPPLET_SIM_URL      http://host:port of the platform simulator (its /_sim control API)
//   CONFAPPLET_AUTH_SECRET  the edge's HS256 token key (EDGE_AUTH_SECRET)
//   CONFAPPLET_LOCAL_PID    the stack's process id: SIGUSR1 stops and starts svc-edge
//
// Any stack started that way can be used by hand:
//   EDGE_AUTH_SECRET=s3cret go run ./deploy/local -temp &
//   CONFAPPLET_EDGE_URL=ws://127.0.0.1:8080 CONFAPPLET_SIM_URL=http://127.0.0.1:8883 \
//   CONFAPPLET_AUTH_SECRET=s3cret CONFAPPLET_LOCAL_PID=$! npm test

import { createHmac, randomBytes } from "node:crypto";

export const env = {
  edge: process.env.CONFAPPLET_EDGE_URL || "",
  sim: process.env.CONFAPPLET_SIM_URL || "",
  secret: process.env.CONFAPPLET_AUTH_SECRET || "",
  pid: Number(process.env.CONFAPPLET_LOCAL_PID || 0),
};

/** Why the tests against the stack cannot run, or "" when they can. */
export const missing = !env.edge || !env.sim || !env.secret ? "no local stack: set CONFAPPLET_EDGE_URL, CONFAPPLET_SIM_URL and CONFAPPLET_AUTH_SECRET (TestJSClient in deploy/local does)" : "";

/** Numbers and their outcomes under fastRules. */
export const numAnswers = "13912345678";
export const numBusy = "13800000001";

/** The simulator's call-progress rules for these tests: quick outcomes. */
export const fastRules = [
  { pattern: "^" + numBusy + "$", outcome: "busy", delay: "300ms" },
  { pattern: ".", outcome: "answer", delay: "300ms" },
];

/** A fresh client id per test, so the tests do not see each other's conferences. */
export function clientId(name) {
  return `js-${name}-${randomBytes(4).toString("hex")}`;
}

/**
 * mint signs a connection token as an app's back end would (HS256, the
 * claims of docs/protocol.md 1.2a), valid for ttl seconds.
 */
export function mint(sub, ttl, secret = env.secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, iat: now, exp: now + ttl });
  return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
}

/** sim calls the simulator's control API. */
export async function sim(method, path, body) {
  const r = await fetch(env.sim + path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

/** until polls f every 20 ms until it returns something truthy, or fails after ms. */
export async function until(what, f, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** record collects a client's notifications and status changes, for assertions. */
export function record(client) {
  const r = { notes: [], states: [], errors: [], tokens: [] };
  client.on("notify", (n) => r.notes.push(n));
  client.on("status", (s) => r.states.push(s));
  client.on("error", (e) => r.errors.push(e));
  client.on("token", (t) => r.tokens.push(t));
  return r;
}

/** seqsOf returns the event seqs delivered for confid, in order. */
export function seqsOf(rec, confid) {
  return rec.notes.filter((n) => n.params.confid === confid && typeof n.params.seq === "number" && n.method !== "OnConfWatch").map((n) => n.params.seq);
}
