package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"confapplet/svc-edge/web"

	"github.com/chromedp/chromedp"
)

// fakeWS is a WebSocket stand-in for the client package test pages: sockets lists
// every one made; push and note deliver messages to the client.
const fakeWS = `const sockets = [];
class FakeWS {
  constructor(url) { this.url = url; this.sent = []; sockets.push(this); setTimeout(() => this.onopen && this.onopen(), 0); }
  send(d) { this.sent.push(JSON.parse(d)); }
  close(code = 1000, reason = "") { setTimeout(() => this.onclose && this.onclose({ code, reason }), 0); }
  push(v) { this.onmessage({ data: JSON.stringify(v) }); }
  note(method, params) { this.push({ jsonrpc: "2.0", method, params }); }
}
`

// rpcTestPage exercises the client package's ConfClient in the browser with a fake
// WebSocket: de-duplication by seq, OnConfWatch and OnConfEventsLost,
// the resume URL after a drop, pending calls on a drop (failed, or resent
// when they carry an idempotency key), errors, and close code 4000.
const rpcTestPage = `<!doctype html><meta charset="utf-8"><title>client package</title>
<script type="module">
import { ConfClient, RpcError, LocalCode as Local } from "/client-js/index.js";

` + fakeWS + `const until = async (f) => { for (let i = 0; i < 400; i++) { if (f()) return; await new Promise((r) => setTimeout(r, 10)); } throw new Error("timeout: " + f); };

const out = { delivered: [], states: [] };
try {
  const c = new ConfClient({ base: "ws://edge.test:8080", clientId: "t-1", token: "eyJh.eyJz.c2ln", WebSocket: FakeWS, timeout: 5000 });
  c.addEventListener("notify", (e) => out.delivered.push(e.detail.method + ":" + (e.detail.params.seq ?? e.detail.params.to)));
  c.addEventListener("status", (e) => out.states.push(e.detail.state + (e.detail.code ? "/" + e.detail.code : "")));
  c.connect();
  await until(() => c.state === "open");
  const ws1 = sockets[0];
  out.firstURL = ws1.url;

  ws1.note("OnConfWatch", { confid: "1234", seq: 0 });
  ws1.note("OnConfCreate", { confid: "1234", seq: 1 });
  ws1.note("OnConfInviteJoin", { confid: "1234", seq: 2, result: 0 });
  ws1.note("OnConfInviteJoin", { confid: "1234", seq: 2, result: 0 }); // duplicate
  ws1.note("OnConfCreate", { confid: "1234", seq: 1 });                // old
  ws1.note("OnConfCreate", { confid: "5678", seq: 1 });                // another conference

  // A result, and an error.
  const ok = c.call("QueryConfState", { confid: "1234" });
  ws1.push({ jsonrpc: "2.0", id: ws1.sent.at(-1).id, result: { state: 1, count: 1 } });
  out.result = await ok;
  const bad = c.call("QuitConf", { confid: "1234", callid: "x" });
  ws1.push({ jsonrpc: "2.0", id: ws1.sent.at(-1).id, error: { code: 1002, message: "call not found" } });
  try { await bad; } catch (e) { out.errorCode = e instanceof RpcError ? e.code : String(e); }

  // A drop with two calls in flight: one with resend (idempotency key), one without.
  const resent = c.call("InviteJoinConf", { confid: "1234", number: "13912345678", idempotency_key: "k1" }, { resend: true });
  const inviteID = ws1.sent.at(-1).id;
  const lost = c.call("ConfMute", { confid: "1234", callid: "y" });
  ws1.close(1001, "going away");
  try { await lost; } catch (e) { out.lostCode = e.code; }
  await until(() => sockets.length === 2 && c.state === "open");
  const ws2 = sockets[1];
  out.resumeURL = ws2.url;
  await until(() => ws2.sent.length > 0);
  out.resentSame = ws2.sent[0].id === inviteID && ws2.sent[0].params.idempotency_key === "k1";
  ws2.push({ jsonrpc: "2.0", id: inviteID, result: "callid-1" });
  out.resentResult = await resent;

  // The replay after the reconnect overlaps what was seen: only new seqs pass.
  ws2.note("OnConfInviteJoin", { confid: "1234", seq: 2, result: 0 });
  ws2.note("OnConfQuit", { confid: "1234", seq: 3 });
  ws2.note("OnConfEventsLost", { confid: "1234", from: 4, to: 9 });
  ws2.note("OnConfQuit", { confid: "1234", seq: 8 });
  ws2.note("OnConfDel", { confid: "1234", seq: 10 });
  out.lastSeq = Object.fromEntries(c.lastSeq);

  // "Reconnect now" skips the backoff wait, and does nothing while open.
  ws2.close(1006, "");
  await until(() => c.state === "reconnecting" && c.waiting);
  const t0 = performance.now();
  c.reconnectNow();
  await until(() => sockets.length === 3 && c.state === "open");
  out.reconnectNowMs = Math.round(performance.now() - t0);
  c.reconnectNow();
  await new Promise((r) => setTimeout(r, 50));
  out.socketsAfterIdleReconnectNow = sockets.length;
  const ws3 = sockets[2];

  // Not connected: calls fail at once.
  ws3.close(4000, "replaced");
  await until(() => c.state === "closed");
  await new Promise((r) => setTimeout(r, 1200));
  out.socketsAfterReplaced = sockets.length;
  try { await c.call("QueryConfState", { confid: "1234" }); } catch (e) { out.offlineCode = e.code; }
  out.local = Local;
} catch (e) {
  out.exception = String(e && e.stack || e);
}
window.rpcTest = out;
</script>`

func TestRPCModuleInBrowser(t *testing.T) {
	b := newBrowser(t)
	b.do("load the client package test page", 10*time.Second, chromedp.Navigate(servePage(t, rpcTestPage)))
	b.waitFor("the client package test", `window.rpcTest !== undefined`, 20*time.Second)
	var got struct {
		Delivered            []string
		States               []string
		FirstURL             string
		Result               map[string]int
		ErrorCode            int
		LostCode             string
		ResumeURL            string
		ResentSame           bool
		ResentResult         string
		LastSeq              map[string]int
		SocketsAfterReplaced int
		ReconnectNowMs       int
		SocketsAfterIdle     int `json:"socketsAfterIdleReconnectNow"`
		OfflineCode          string
		Exception            string
	}
	b.eval(`window.rpcTest`, &got)
	if got.Exception != "" {
		t.Fatalf("the client package test threw: %s", got.Exception)
	}
	js, _ := json.MarshalIndent(got, "", "  ")
	t.Logf("the client package: %s", js)

	wantDelivered := []string{
		"OnConfWatch:0", "OnConfCreate:1", "OnConfInviteJoin:2", "OnConfCreate:1", // the last is conference 5678
		"OnConfQuit:3", "OnConfEventsLost:9", "OnConfDel:10",
	}
	if !reflect.DeepEqual(got.Delivered, wantDelivered) {
		t.Errorf("delivered %v\nwant      %v", got.Delivered, wantDelivered)
	}
	if got.FirstURL != "ws://edge.test:8080/client/t-1?token=eyJh.eyJz.c2ln" {
		t.Errorf("first URL %q", got.FirstURL)
	}
	if got.ResumeURL != "ws://edge.test:8080/client/t-1?resume=1234:2,5678:1&token=eyJh.eyJz.c2ln" {
		t.Errorf("resume URL %q", got.ResumeURL)
	}
	if got.Result["state"] != 1 || got.ErrorCode != 1002 {
		t.Errorf("result %v, error code %d", got.Result, got.ErrorCode)
	}
	if got.LostCode != "conn_lost" {
		t.Errorf("call in flight at a drop: %q, want conn_lost", got.LostCode)
	}
	if !got.ResentSame || got.ResentResult != "callid-1" {
		t.Errorf("InviteJoinConf with a key not resent as-is after the reconnect (same=%v result=%q)", got.ResentSame, got.ResentResult)
	}
	if got.LastSeq["1234"] != 10 || got.LastSeq["5678"] != 1 {
		t.Errorf("lastSeq %v", got.LastSeq)
	}
	if got.ReconnectNowMs > 200 || got.SocketsAfterIdle != 3 {
		t.Errorf("reconnectNow: %d ms to reconnect (want no backoff wait), %d sockets after a call while open (want 3)", got.ReconnectNowMs, got.SocketsAfterIdle)
	}
	if got.SocketsAfterReplaced != 3 {
		t.Errorf("%d sockets: reconnected after close 4000 (replaced)", got.SocketsAfterReplaced)
	}
	if got.OfflineCode != "not_connected" {
		t.Errorf("call while closed: %q", got.OfflineCode)
	}
	wantStates := []string{"connecting", "open", "reconnecting/1001", "reconnecting", "open",
		"reconnecting/1006", "reconnecting", "open", "closed/4000"}
	if !reflect.DeepEqual(got.States, wantStates) {
		t.Errorf("states %v\nwant   %v", got.States, wantStates)
	}
}

// servePage serves page beside the web page's files (the client package in client-js/) and returns
// its URL.
func servePage(t *testing.T, page string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /test.html", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	mux.Handle("GET /", http.FileServerFS(web.FS))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/test.html"
}
