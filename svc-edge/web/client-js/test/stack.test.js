// The client against the real local stack (edge, conference service,
// callback service, NATS, the platform simulator): node --test, started by
// TestJSClient in deploy/local (testing/stack.js says how to run it by hand).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { Close, ConfClient, ConnectionError, ErrorCode, RpcError, TimeoutError } from "@confapplet/client";
import { clientId, env, fastRules, mint, missing, numAnswers, numBusy, record, seqsOf, sim, until } from "../testing/stack.js";

// Under the Go harness a missing variable is a failure, not a reason to skip.
if (missing && process.env.CONFAPPLET_REQUIRE_STACK) throw new Error(missing);

/** newClient returns a client of a fresh id whose tokens live ttl seconds. */
function newClient(name, { ttl = 600, tokenSource, ...opts } = {}) {
  const id = clientId(name);
  const minted = [];
  const source = tokenSource || (() => minted[minted.push(mint(id, ttl)) - 1]);
  const client = new ConfClient({ url: env.edge, clientId: id, tokenSource: source, ...opts });
  return { client, id, minted, rec: record(client) };
}

describe("@confapplet/client against the local stack", { skip: missing || false }, () => {
  const clients = [];
  const open = async (name, opts) => {
    const c = newClient(name, opts);
    clients.push(c.client);
    await c.client.connect();
    return c;
  };
  before(() => sim("PUT", "/_sim/rules", fastRules));
  after(() => clients.forEach((c) => c.close()));

  test("create a conference, invite numbers, typed notifications once each", async () => {
    const { client, rec } = await open("invite");
    const joined = [];
    client.on("OnConfInviteJoin", (p) => joined.push(p));
    const confid = await client.call("CreateConf", {});
    assert.match(confid, /^[0-9]{4,8}$/);
    const answering = await client.call("InviteJoinConf", { confid, number: numAnswers });
    const busy = await client.call("InviteJoinConf", [confid, numBusy]); // params by position
    assert.match(answering, /^[0-9A-Za-z]{32}$/);

    const ok = await until("the answering number joined", () => joined.find((p) => p.callid === answering && p.outcome === "joined"));
    assert.equal(ok.result, 0);
    assert.equal(ok.number, numAnswers);
    assert.equal(ok.confid, confid);
    const failed = await until("the busy number failed", () => joined.find((p) => p.callid === busy && p.outcome === "failed"));
    assert.ok(failed.result > 0, `a failure's result is the platform's code, got ${failed.result}`);

    // The events of the conference arrive in seq order, each once, from 1.
    const seqs = seqsOf(rec, confid);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
    assert.ok(rec.notes.some((n) => n.method === "OnConfWatch" && n.params.confid === confid), "OnConfWatch after CreateConf");
    assert.equal(rec.notes.find((n) => n.method === "OnConfCreate").params.confid, confid);

    const conf = await client.call("GetConf", { confid });
    assert.equal(conf.confid, confid);
    assert.deepEqual(conf.members.map((m) => m.number).sort(), [numAnswers, numBusy].sort());
    await client.call("DismissConf", [confid]);
    await until("OnConfDismiss", () => rec.notes.find((n) => n.method === "OnConfDismiss" && n.params.confid === confid));
  });

  test("a refused request rejects with RpcError: code, name, data, retriable", async () => {
    const { client } = await open("errors");
    const confid = await client.call("CreateConf", {});
    const refused = await client.call("InviteJoinConf", { confid, number: "12345" }).catch((e) => e);
    assert.ok(refused instanceof RpcError, `got ${refused}`);
    assert.equal(refused.code, ErrorCode.NumberNotAllowed);
    assert.equal(refused.codeName, "number_not_allowed");
    assert.equal(refused.method, "InviteJoinConf");
    assert.equal(refused.retriable, false);
    assert.match(refused.message, /12345/);

    const unknown = await client.call("GetConf", { confid: "99999999" }).catch((e) => e);
    assert.ok(unknown instanceof RpcError);
    assert.ok(unknown.code === ErrorCode.ConfNotFound || unknown.code === ErrorCode.Forbidden, `code ${unknown.code}`);

    const badParams = await client.call("QuitConf", { confid }).catch((e) => e);
    assert.equal(badParams.code, ErrorCode.InvalidParams);
    const noMethod = await client.call("NoSuchMethod", []).catch((e) => e);
    assert.equal(noMethod.code, ErrorCode.MethodNotFound);
    // The connection survives every refusal.
    assert.deepEqual(await client.call("QueryConfState", [confid]), { state: 0, count: 0 });
  });

  test("a call that gets no answer in time rejects with TimeoutError; an aborted one with the signal's reason", async () => {
    const { client } = await open("timeout");
    await sim("PUT", "/_sim/latency?d=2s");
    try {
      const t0 = Date.now();
      const late = await client.call("CreateConf", { idempotency_key: "late-" + client.clientId }, { timeout: 300 }).catch((e) => e);
      assert.ok(late instanceof TimeoutError, `got ${late}`);
      assert.equal(late.code, "local_timeout");
      assert.equal(late.timeout, 300);
      assert.ok(Date.now() - t0 < 1500, `timed out after ${Date.now() - t0} ms`);

      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const aborted = await client.call("CreateConf", {}, { signal: ac.signal }).catch((e) => e);
      assert.equal(aborted.name, "AbortError");
    } finally {
      await sim("PUT", "/_sim/latency?d=0s");
    }
    // The late answers are dropped; the connection goes on. The retry with
    // the same key returns the conference the timed-out call created.
    const again = await client.call("CreateConf", { idempotency_key: "late-" + client.clientId });
    assert.match(again, /^[0-9]{4,8}$/);
    assert.equal(client.state, "open");
  });

  test("after the edge closes the socket (1001) the client reconnects and resumes: missed events once, also when the conference ended meanwhile", { skip: !env.pid && "CONFAPPLET_LOCAL_PID not set" }, async () => {
    const { client, rec } = await open("resume");
    const confid = await client.call("CreateConf", {});
    // One member: when it hangs up the conference ends, while the client
    // is away; the resume still delivers its last events.
    const callid = await client.call("InviteJoinConf", { confid, number: numAnswers });
    // Its invitation's result and its join notification, both "joined".
    const joined = () => rec.notes.filter((n) => n.method === "OnConfInviteJoin" && n.params.callid === callid && n.params.outcome === "joined");
    await until("joined", () => joined().length === 2);
    const before = seqsOf(rec, confid).length;
    const inFlight = client.call("GetConf", [confid]).catch((e) => e); // may or may not be answered before the close

    process.kill(env.pid, "SIGUSR1"); // svc-edge stops: every socket closes with 1001
    await until("the close", () => rec.states.some((s) => s.state === "reconnecting" && s.code === Close.Shutdown));
    const lost = await inFlight;
    assert.ok(!(lost instanceof Error) || (lost instanceof ConnectionError && lost.code === "conn_lost"), `in-flight call: ${lost}`);
    // While the client is away the member hangs up, which ends the
    // conference.
    await sim("POST", `/_sim/hangup?callid=${callid}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rec.notes.filter((n) => n.method === "OnConfQuit").length, 0, "no quit while disconnected");
    process.kill(env.pid, "SIGUSR1"); // and starts again

    await until("reopened", () => rec.states.some((s) => s.state === "open" && s.resumed), 20000);
    const del = await until("the missed OnConfDel", () => rec.notes.find((n) => n.method === "OnConfDel"));
    assert.equal(del.params.confid, confid);
    await new Promise((r) => setTimeout(r, 300)); // time for a duplicate to show, if the replay sent one
    const seqs = seqsOf(rec, confid);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "every event once, in order, across the reconnect");
    assert.ok(seqs.length > before);
    const after = rec.notes.filter((n) => n.method !== "OnConfWatch" && n.params?.confid === confid && n.params.seq > before).map((n) => n.method);
    assert.deepEqual(after, ["OnConfQuit", "OnConfDel"], "the missed events, ending with OnConfDel");
    assert.equal(rec.notes.find((n) => n.method === "OnConfQuit").params.callid, callid);
    assert.equal(client.state, "open");
  });

  test("the token is renewed in-band before it expires: the connection outlives it", async () => {
    const { client, rec, minted } = await open("refresh", { ttl: 3 });
    const firstExp = JSON.parse(Buffer.from(minted[0].split(".")[1], "base64url")).exp * 1000;
    // Past the first token's expiry, and the edge's 5 s clock-skew leeway.
    await new Promise((r) => setTimeout(r, Math.max(0, firstExp - Date.now()) + 6000));
    assert.ok(rec.tokens.length >= 2, `${rec.tokens.length} renewals`);
    assert.ok(rec.tokens[0].exp * 1000 > firstExp, "the renewal moved the expiry");
    assert.deepEqual(rec.states.map((s) => s.state), ["connecting", "open"], "never disconnected");
    assert.deepEqual(rec.errors, []);
    await client.call("QueryConfState", [await client.call("CreateConf", {})]);
  });

  test("a refused renewal is reported; at expiry (4004) the client reconnects with a fresh token", async () => {
    let refuse = false;
    const id = clientId("expiry");
    let asked = 0;
    // The app's back end: once the first connection is up it signs tokens
    // for another client id (the edge refuses them) until the 4004 close.
    const tokenSource = () => {
      asked++;
      return mint(refuse ? id + "-other" : id, 3);
    };
    const client = new ConfClient({ url: env.edge, clientId: id, tokenSource });
    clients.push(client);
    const rec = record(client);
    client.on("status", (s) => {
      if (s.code === Close.TokenExpired) refuse = false;
    });
    await client.connect();
    refuse = true;
    const confid = await client.call("CreateConf", {});

    const refused = await until("the refused renewal", () => rec.errors[0]);
    assert.ok(refused instanceof RpcError, `got ${refused}`);
    assert.equal(refused.code, ErrorCode.Unauthorized);
    assert.equal(refused.data.reason, "token is for another client id");
    await until("the 4004 close", () => rec.states.find((s) => s.code === Close.TokenExpired), 10000);
    await until("reopened", () => rec.states.some((s) => s.state === "open" && s.resumed), 10000);
    assert.ok(asked >= 3, `${asked} tokens asked for`);
    assert.deepEqual(await client.call("QueryConfState", { confid }), { state: 0, count: 0 });
  });

  test("the example app runs: a busy number fails", async () => {
    const id = clientId("example");
    const script = fileURLToPath(new URL("../examples/invite.mjs", import.meta.url));
    const child = spawn(process.execPath, [...process.execArgv, "--no-warnings", script, numBusy], {
      env: { ...process.env, EDGE_URL: env.edge, CLIENT_ID: id, TOKEN: mint(id, 600) },
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const code = await Promise.race([
      new Promise((r) => child.on("exit", r)),
      new Promise((r) => setTimeout(() => r("still running after 15 s"), 15000)),
    ]);
    if (code !== 0) child.kill();
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`^${numBusy} failed$`, "m"));
  });
});
