// The client's pure parts, without a server.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfClient, Errors, MAX_RESUME, RpcError, backoff, buildURL, splitNumbers, tokenExp } from "@confapplet/client";

test("backoff: full jitter between half the base and the doubling cap", () => {
  assert.deepEqual([0, 1, 2, 3, 10, 30].map((n) => backoff(n, 500, 15000, () => 1)), [500, 1000, 2000, 4000, 15000, 15000]);
  assert.deepEqual([0, 5].map((n) => backoff(n, 500, 15000, () => 0)), [250, 250]);
});

test("buildURL: resume list of the conferences with events, cut to the edge's limit keeping the latest", () => {
  assert.equal(
    buildURL("ws://h:1/", "web-1", new Map([["12345678", 7], ["87654321", 0], ["23456789", 3]]), { token: "a.b.c", operator: "" }),
    "ws://h:1/client/web-1?resume=12345678:7,23456789:3&token=a.b.c",
  );
  const many = new Map(Array.from({ length: MAX_RESUME + 10 }, (_, i) => [String(10000 + i), 1]));
  const resume = new URL(buildURL("ws://h", "c", many)).search.slice("?resume=".length).split(",");
  assert.equal(resume.length, MAX_RESUME);
  assert.equal(resume[0], `${10000 + 10}:1`);
});

test("tokenExp reads a JWT's exp in ms, 0 for anything else", () => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  assert.equal(tokenExp(b64({ alg: "HS256" }) + "." + b64({ sub: "x", exp: 1767225600 }) + ".sig"), 1767225600000);
  assert.equal(tokenExp("not a token"), 0);
  assert.equal(tokenExp(b64({}) + "." + b64({ sub: "x" }) + ".s"), 0);
});

test("RpcError: retriable from the contract's table; unknown codes as docs/protocol.md section 7 says", () => {
  assert.equal(new RpcError(1005, "rate limited").retriable, true);
  assert.equal(new RpcError(1001, "").message, Errors["1001"].message);
  assert.equal(new RpcError(-32099, "new server error").retriable, true);
  assert.equal(new RpcError(1099, "new refusal").retriable, false);
  assert.equal(new RpcError(1099, "x").codeName, "");
});

test("ConfClient checks its options", () => {
  assert.throws(() => new ConfClient({ url: "ws://h", clientId: "no spaces" }), TypeError);
  assert.throws(() => new ConfClient({ clientId: "ok" }), TypeError);
});

test("splitNumbers splits what a person typed", () => {
  assert.deepEqual(splitNumbers(" 13912345678#13800000001，13712345678  13612345678,"), ["13912345678", "13800000001", "13712345678", "13612345678"]);
});
