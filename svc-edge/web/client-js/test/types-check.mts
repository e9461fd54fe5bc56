// Compiled, never run: `tsc --noEmit --strict` over this file (TestClientTypes
// in svc-edge/web, when tsc is installed) checks that the declarations give
// an app the types it should, and refuse what they should.

import { Close, ConfClient, ErrorCode, RpcError, TimeoutError } from "@confapplet/client";
import type { Conference, Status } from "@confapplet/client";

export async function app(client: ConfClient): Promise<void> {
  await client.connect();
  const confid: string = await client.call("CreateConf", { maxmember: 3, idempotency_key: "k-1" });
  const callid: string = await client.call("InviteJoinConf", [confid, "13912345678"]);
  const conf: Conference = await client.call("GetConf", { confid });
  const memberState: "invited" | "ringing" | "joined" | "left" | "failed" = conf.members[0].state;
  const state: { state: 0 | 1 | 2; count: number } = await client.call("QueryConfState", [confid]);
  const watch = await client.call("WatchConf", [confid, 4]);
  const seq: number = watch.seq;
  const nothing: null = await client.call("QuitConf", { confid, callid }, { timeout: 500, signal: new AbortController().signal });
  const exp: number = (await client.call("RefreshToken", ["a.b.c"])).exp;

  const off = client.on("OnConfInviteJoin", (p) => {
    const outcome: "joined" | "failed" | "pending" = p.outcome;
    const result: number = p.result;
  });
  off();
  client.on("OnConfMedia", (p) => {
    const url: string | undefined = p.recordurl;
  });
  client.on("OnConfEventsLost", (p) => {
    const to: number = p.to;
  });
  client.on("status", (s: Status) => s.state === "open" && s.resumed);
  client.on("notify", (n) => {
    if (n.method === "OnConfQuit") {
      const left: string = n.params.jointime;
    }
  });

  try {
    await client.call("DismissConf", [confid]);
  } catch (e) {
    if (e instanceof RpcError && e.code === ErrorCode.PlatformError) {
      const retry: boolean = e.retriable;
    }
    if (e instanceof TimeoutError) {
      const ms: number = e.timeout;
    }
  }
  const expired: 4004 = Close.TokenExpired;
  const notFound: 1001 = ErrorCode.ConfNotFound;

  // @ts-expect-error: no such method
  await client.call("NoSuchMethod", {});
  // @ts-expect-error: maxmember is a number
  await client.call("CreateConf", { maxmember: "3" });
  // @ts-expect-error: GetConf needs a confid
  await client.call("GetConf", {});
  // @ts-expect-error: InviteJoinConf takes two params by position
  await client.call("InviteJoinConf", [confid]);
  // @ts-expect-error: no such notification
  client.on("OnConfNothing", () => {});
  // @ts-expect-error: OnConfDel carries no callid
  client.on("OnConfDel", (p) => p.callid);
  void [memberState, state, seq, nothing, exp, expired, notFound];
}

export const client = new ConfClient({ url: "ws://127.0.0.1:8080", clientId: "types-1", tokenSource: async () => "a.b.c" });
