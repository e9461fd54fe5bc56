// A whole app: create a conference, dial one number, print what happens, stop when the call ends.
// With `go run ./deploy/local` running: node --experimental-websocket examples/invite.mjs 13800000004
import { ConfClient } from "@confapplet/client";
const client = new ConfClient({ url: process.env.EDGE_URL ?? "ws://127.0.0.1:8080",
  clientId: process.env.CLIENT_ID ?? `example-${process.pid}`, token: process.env.TOKEN });
const show = (p) => { console.log(p.number, p.outcome ?? "left"); if (!p.outcome || p.outcome === "failed") client.close(); };
client.on("OnConfInviteJoin", show);
client.on("OnConfQuit", show);
await client.connect();
const confid = await client.call("CreateConf", {});
await client.call("InviteJoinConf", { confid, number: process.argv[2] ?? "13800000004" });
