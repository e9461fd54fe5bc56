package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tokenTestPage drives the client package's ConfClient with a tokenSource against a
// fake WebSocket: a fresh token for every connect, RefreshToken sent
// in-band before the token expires, and a fresh token again after the edge
// closes with 4004.
const tokenTestPage = `<!doctype html><meta charset="utf-8"><title>client package tokens</title>
<script type="module">
import { ConfClient, Close, tokenExp } from "/client-js/index.js";

` + fakeWS + `const until = async (f, ms = 4000) => { for (let i = 0; i < ms / 10; i++) { if (f()) return; await new Promise((r) => setTimeout(r, 10)); } throw new Error("timeout: " + f); };
const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
let minted = 0;
const mint = async () => { minted++; return b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub: "t-2", exp: Math.floor(Date.now() / 1000) + 2, n: minted }) + ".c2ln"; };

const out = {};
try {
  const c = new ConfClient({ base: "ws://edge.test:8080", clientId: "t-2", tokenSource: mint, WebSocket: FakeWS, timeout: 5000 });
  c.connect();
  await until(() => c.state === "open");
  const ws1 = sockets[0];
  out.firstToken = new URL(ws1.url).searchParams.get("token");
  out.firstExpOK = Math.abs(tokenExp(out.firstToken) - (Date.now() + 2000)) < 1500;
  // Three quarters of the lifetime later, the client renews in-band.
  await until(() => ws1.sent.some((m) => m.method === "RefreshToken"));
  const req = ws1.sent.find((m) => m.method === "RefreshToken");
  out.refreshParam = req.params[0];
  ws1.push({ jsonrpc: "2.0", id: req.id, result: { exp: tokenExp(req.params[0]) / 1000 } });
  await until(() => c.token === req.params[0]);
  out.mintedBeforeExpiry = minted;
  // The edge closes at expiry: the reconnect asks for a fresh token.
  ws1.close(Close.TokenExpired, "token expired");
  await until(() => sockets.length === 2 && c.state === "open", 8000);
  out.secondToken = new URL(sockets[1].url).searchParams.get("token");
  out.minted = minted;
  c.close();
} catch (e) {
  out.exception = String(e && e.stack || e);
}
window.tokenTest = out;
</script>`

func TestRPCTokenSourceInBrowser(t *testing.T) {
	b := newBrowser(t)
	b.do("load the token test page", 10*time.Second, chromedp.Navigate(servePage(t, tokenTestPage)))
	b.waitFor("the token test", `window.tokenTest !== undefined`, 30*time.Second)
	var got struct {
		FirstToken, RefreshParam, SecondToken string
		FirstExpOK                            bool
		MintedBeforeExpiry, Minted            int
		Exception                             string
	}
	b.eval(`window.tokenTest`, &got)
	if got.Exception != "" {
		t.Fatalf("token test threw: %s", got.Exception)
	}
	if got.FirstToken == "" || !got.FirstExpOK || strings.Count(got.FirstToken, ".") != 2 {
		t.Errorf("first connect's token %q (exp read back: %v)", got.FirstToken, got.FirstExpOK)
	}
	if got.RefreshParam == "" || got.RefreshParam == got.FirstToken || got.MintedBeforeExpiry != 2 {
		t.Errorf("in-band renewal: RefreshToken(%q) after %d tokens, want a second, fresh one", got.RefreshParam, got.MintedBeforeExpiry)
	}
	if got.SecondToken == "" || got.SecondToken == got.RefreshParam || got.Minted < 3 {
		t.Errorf("reconnect after 4004 used %q (%d tokens minted), want a fresh one", got.SecondToken, got.Minted)
	}
}
