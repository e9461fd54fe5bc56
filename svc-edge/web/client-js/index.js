// @confapplet/client — confapplet's JSON-RPC client (docs/protocol.md,
// "With the JavaScript client"). No build step: import this file from a
// browser (<script type="module">) or from Node.
//
//   import { ConfClient } from "@confapplet/client";
//   const client = new ConfClient({ url: "wss://conf.example.com", clientId, tokenSource });
//   client.on("OnConfInviteJoin", (p) => console.log(p.number, p.outcome));
//   await client.connect();
//   const confid = await client.call("CreateConf", {});

export { ConfClient } from "./client.js";
export { RpcError, ConnectionError, TimeoutError, LocalCode } from "./errors.js";
export { tokenExp, backoff, buildURL, newClientId, newKey, splitNumbers, MAX_RESUME } from "./util.js";
export { ErrorCode, Errors, Close, MethodSpecs, eventNotifications } from "./contract.js";
