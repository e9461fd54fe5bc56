package e2e

// The hostile-input suite: the whole stack with its production defaults
// (connection tokens on, the call budget's defaults), attacked the way
// someone after other people's conferences or a free phone bill would:
// identity takeover, toll fraud with many identities, enumeration,
// protocol abuse and the small doors.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/token"
	"confapplet/svc-edge/edge"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// wsURL is the WebSocket URL of an edge's http:// base.
func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

// rawDial opens /client/{id}?query with headers; the HTTP status when the
// upgrade is refused.
func rawDial(base, id, query string, h http.Header) (*websocket.Conn, int, error) {
	u := wsURL(base) + "/client/" + id
	if query != "" {
		u += "?" + query
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode, err
		}
		return nil, 0, err
	}
	return c, http.StatusSwitchingProtocols, nil
}

// rpcCode is the JSON-RPC error code of err (0 when it is not one).
func rpcCode(err error) int {
	var re *client.RPCError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// Identity takeover: nobody connects as alice without a token for alice,
// no one's token kicks her off, and a client with a valid token of its own
// can neither act on, read, watch nor resume alice's conference.
func TestHostileIdentityTakeover(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	if _, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	longLived := token.New("alice", now, 48*time.Hour)
	noExp := token.New("alice", now, time.Hour)
	noExp.ExpiresAt = nil
	noExpTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, noExp).SignedString([]byte(tokenSecret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, token.New("alice", now, time.Hour)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for _, tc := range []struct{ name, tok string }{
		{"no token", ""},
		{"mallory's own token", token.HS256(tokenSecret, "mallory", time.Hour)},
		{"forged with another key", token.HS256("guessed-secret", "alice", time.Hour)},
		{"alg none", none},
		{"expired", mustSign(t, token.New("alice", now.Add(-2*time.Hour), time.Hour))},
		{"over-long-lived", mustSign(t, longLived)},
		{"no exp", noExpTok},
	} {
		for _, base := range st.edges {
			q := ""
			if tc.tok != "" {
				q = "token=" + url.QueryEscape(tc.tok)
			}
			if c, status, _ := rawDial(base, "alice", q, nil); status != http.StatusUnauthorized {
				if c != nil {
					c.Close()
				}
				t.Fatalf("%s: HTTP %d, want 401", tc.name, status)
			}
		}
	}
	// Alice was never kicked off.
	if _, err := alice.c.QueryConfState(alice.ctx(), confID); err != nil {
		t.Fatalf("alice after the takeover attempts: %v", err)
	}
	if s := alice.c.Stats(); s.Disconnects != 0 {
		t.Fatalf("alice was disconnected %d times", s.Disconnects)
	}

	mallory := st.dial(1, "mallory")
	ctx := mallory.ctx()
	callID := strings.Repeat("a", 32)
	for name, call := range map[string]func() error{
		"DismissConf":    func() error { return mallory.c.DismissConf(ctx, confID) },
		"InviteJoinConf": func() error { _, err := mallory.c.InviteJoinConf(ctx, confID, answering2); return err },
		"QuitConf":       func() error { return mallory.c.QuitConf(ctx, confID, callID) },
		"GetConf":        func() error { _, err := mallory.c.GetConf(ctx, confID); return err },
		"QueryConfState": func() error { _, err := mallory.c.QueryConfState(ctx, confID); return err },
		"WatchConf":      func() error { _, err := mallory.c.WatchConf(ctx, confID, 0); return err },
	} {
		if code := rpcCode(call()); code != 1003 {
			t.Errorf("mallory %s on alice's conference: code %d, want 1003 forbidden", name, code)
		}
	}
	if _, err := mallory.c.RefreshToken(ctx, token.HS256(tokenSecret, "alice", time.Hour)); rpcCode(err) != 1012 {
		t.Errorf("mallory renewing with alice's token: %v, want 1012", err)
	}
	// Resuming alice's conference replays nothing to mallory.
	other := st.dial(0, "mallory2", client.WithResume(map[string]uint64{confID: 0}))
	other.quiet(500 * time.Millisecond)
	if n := len(st.sim.Calls()); n != 1 {
		t.Fatalf("%d calls dialled, want alice's 1", n)
	}
	if c, err := alice.c.GetConf(alice.ctx(), confID); err != nil || c.State == contract.StateEnding {
		t.Fatalf("alice's conference after the attack: %+v, %v", c, err)
	}
}

func mustSign(t *testing.T, c token.Claims) string {
	t.Helper()
	s, err := token.Sign(tokenSecret, "", c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Toll fraud with many identities, through the edges with the defaults:
// 70 client ids (each with a valid token: an attacker's own back end can
// mint them) each create a conference and invite 10 numbers at once. At
// most 30 calls start, and every refusal names the limit that was hit.
func TestHostileTollFraudManyIDs(t *testing.T) {
	st := newStack(t)
	const ids, perID = 70, 10
	bs := make([]*browser, ids)
	for i := range bs {
		bs[i] = st.dial(i%2, fmt.Sprintf("fraud%d", i))
	}
	var mu sync.Mutex
	byLimit := map[string]int{}
	var bad []string
	refused := func(err error) {
		var re *client.RPCError
		var d struct {
			Limit string `json:"limit"`
			Scope string `json:"scope"`
			Retry int64  `json:"retry_after_ms"`
		}
		mu.Lock()
		defer mu.Unlock()
		if !errors.As(err, &re) || re.Code != 1005 || json.Unmarshal(re.Data, &d) != nil || d.Retry <= 0 || (d.Limit == "" && d.Scope == "") {
			bad = append(bad, err.Error())
			return
		}
		if d.Limit == "" { // a per-client or global invitation rate
			d.Limit = "invite_rate_" + d.Scope
		}
		byLimit[d.Limit]++
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			confID, err := b.c.CreateConf(ctx)
			if err != nil {
				refused(err)
				return
			}
			nums := make([]string, perID)
			for j := range nums {
				nums[j] = fmt.Sprintf("139%08d", i*perID+j)
			}
			if _, err := b.c.InviteJoinConf(ctx, confID, strings.Join(nums, "#")); err != nil {
				refused(err)
			}
		})
	}
	wg.Wait()
	calls := len(st.sim.Calls())
	t.Logf("70 ids × 10 numbers through the edges in %v: %d calls started; refusals by limit %v",
		time.Since(start).Round(time.Millisecond), calls, byLimit)
	if calls > 30 {
		t.Fatalf("%d calls started, want at most 30", calls)
	}
	if len(bad) > 0 {
		t.Fatalf("%d refusals do not name a limit with a retry hint, e.g. %s", len(bad), bad[0])
	}
}

// Enumeration: probing confids answers conf_not_found from the state, costs
// the platform account nothing, and tells a non-owner nothing about a real
// conference.
func TestHostileEnumeration(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	prober := st.dial(1, "prober")
	before := st.platformRequests.Load()
	ctx := prober.ctx()
	for i := range 500 {
		id := fmt.Sprintf("9%07d", i)
		if id == confID {
			continue
		}
		if _, err := prober.c.QueryConfState(ctx, id); rpcCode(err) != 1001 {
			t.Fatalf("QueryConfState %s: %v, want 1001", id, err)
		}
	}
	for _, id := range []string{"1234", "99999999"} {
		if _, err := prober.c.GetConf(ctx, id); rpcCode(err) != 1001 {
			t.Fatalf("GetConf %s: %v, want 1001", id, err)
		}
	}
	if n := st.platformRequests.Load() - before; n != 0 {
		t.Fatalf("500 unknown confids cost %d platform requests, want 0", n)
	}
	if _, err := prober.c.QueryConfState(ctx, confID); rpcCode(err) != 1003 {
		t.Fatalf("QueryConfState of alice's conference by another client: %v, want 1003", err)
	}
}

// Protocol abuse: malformed, oversized, batched, binary and internal-method
// requests, a flood of requests and abusive handshakes are answered with
// their errors and dial nothing.
func TestHostileProtocolAbuse(t *testing.T) {
	st := newStack(t)
	base := st.edges[0]
	tok := "token=" + token.HS256(tokenSecret, "abuser", time.Hour)
	c, status, err := rawDial(base, "abuser", tok, nil)
	if err != nil {
		t.Fatalf("HTTP %d: %v", status, err)
	}
	defer c.Close()
	ask := func(frame string) map[string]any {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("after %q: %v", frame, err)
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil && m["method"] == nil {
				return m
			}
		}
	}
	code := func(m map[string]any) int {
		e, _ := m["error"].(map[string]any)
		f, _ := e["code"].(float64)
		return int(f)
	}
	for _, tc := range []struct {
		name, frame string
		want        int
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":`, -32700},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}]`, -32600},
		{"no jsonrpc member", `{"id":1,"method":"QueryConfState","params":["1234"]}`, -32600},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"DialEveryone","params":[]}`, -32601},
		{"internal ListOwned", `{"jsonrpc":"2.0","id":1,"method":"ListOwned","params":[]}`, -32601},
		{"internal AuthorizeWatch", `{"jsonrpc":"2.0","id":1,"method":"AuthorizeWatch","params":{"confid":"1234"}}`, -32601},
		{"confid injection", `{"jsonrpc":"2.0","id":1,"method":"GetConf","params":["1234.>"]}`, -32602},
		{"extra param", `{"jsonrpc":"2.0","id":1,"method":"GetConf","params":{"confid":"1234","owner":"abuser"}}`, -32602},
		{"number not a number", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234","1380013800;rm"]}`, -32602},
		{"token not a JWT", `{"jsonrpc":"2.0","id":1,"method":"RefreshToken","params":["<script>"]}`, -32602},
	} {
		if got := code(ask(tc.frame)); got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}
	// A conference of its own, then numbers the allow-list refuses.
	created := ask(`{"jsonrpc":"2.0","id":2,"method":"CreateConf","params":[]}`)
	confID, _ := created["result"].(string)
	for _, n := range []string{"4008123123", "0085212345678", "110", "+8613800138000"} {
		if got := code(ask(`{"jsonrpc":"2.0","id":3,"method":"InviteJoinConf","params":["` + confID + `","` + n + `"]}`)); got != 1004 && got != -32602 {
			t.Errorf("number %s: code %d, want 1004 (or -32602)", n, got)
		}
	}
	// A binary frame.
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := c.ReadMessage(); err != nil || !strings.Contains(string(b), "-32600") {
		t.Errorf("binary frame: %s, %v", b, err)
	}
	// A flood: the per-connection queue refuses the excess with -32002.
	for i := range 200 {
		_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"QueryConfState","params":["%s"]}`, 100+i, confID)))
	}
	busy := 0
	for range 200 {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("flood: %v", err)
		}
		if strings.Contains(string(b), "-32002") {
			busy++
		}
	}
	if busy == 0 {
		t.Error("a flood of 200 requests got no -32002")
	}
	// An oversized message closes the connection (1009).
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"GetConf","params":["1234"],"pad":"`+strings.Repeat("x", 70000)+`"}`))
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("oversized message: %v, want close 1009", err)
			}
			break
		}
	}
	// Abusive handshakes.
	resume := make([]string, 257)
	for i := range resume {
		resume[i] = fmt.Sprintf("%d:0", 10000+i)
	}
	for name, h := range map[string]struct{ id, query string }{
		"resume of 257 items": {"abuser", tok + "&resume=" + strings.Join(resume, ",")},
		"malformed resume":    {"abuser", tok + "&resume=1234:x"},
		"client id too long":  {strings.Repeat("a", 65), tok},
		"client id with dots": {"a.b", tok},
	} {
		if c, status, _ := rawDial(base, h.id, h.query, nil); status != http.StatusBadRequest {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s: HTTP %d, want 400", name, status)
		}
	}
	if n := len(st.sim.Calls()); n != 0 {
		t.Fatalf("the abuse dialled %d calls", n)
	}
}

// The small doors: an expired, unrenewed token closes its socket with 4004;
// a rebound origin does not reach an edge that runs without tokens; the
// public edge serves no metrics or profiles; a hostile recordurl never
// reaches a browser.
func TestHostileSmallDoors(t *testing.T) {
	st := newStack(t)
	short := mustSign(t, token.New("brief", time.Now(), 1500*time.Millisecond))
	c, status, err := rawDial(st.edges[0], "brief", "token="+short, nil)
	if err != nil {
		t.Fatalf("HTTP %d: %v", status, err)
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != contract.CloseTokenExpired {
				t.Fatalf("expired token: %v, want close %d", err, contract.CloseTokenExpired)
			}
			break
		}
	}
	c.Close()

	// An edge left open (EDGE_INSECURE_NO_AUTH) on this NATS, reached
	// through DNS rebinding: Origin and Host are both the attacker's name.
	cfg := edge.DefaultConfig()
	cfg.InsecureNoAuth = true
	open, err := edge.New(cfg, st.connect("open-edge"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptestServer(t, open)
	h := http.Header{"Origin": {"http://rebind.evil.example"}, "Host": {"rebind.evil.example"}}
	if c, status, _ := rawDial(hs, "victim", "", h); status != http.StatusForbidden {
		if c != nil {
			c.Close()
		}
		t.Fatalf("rebound origin on an open edge: HTTP %d, want 403", status)
	}
	// The edges with tokens refuse a foreign origin too.
	if c, status, _ := rawDial(st.edges[0], "victim", "token="+token.HS256(tokenSecret, "victim", time.Hour),
		http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		if c != nil {
			c.Close()
		}
		t.Fatalf("foreign origin: HTTP %d, want 403", status)
	}

	// Metrics and profiles are not on the public listeners.
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		resp, err := http.Get(st.edges[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the public edge: HTTP %d, want 404", path, resp.StatusCode)
		}
	}

	// A recordurl that would run script in the page never reaches it: the
	// callback is a bad body (answered, kept for reprocessing, never
	// published), while a good one reaches the owner's page.
	watcher := st.dial(0, "owner")
	confID := watcher.createConf()
	post := func(recordURL string) {
		t.Helper()
		body := url.Values{"confid": {confID}, "notifytype": {"12"}, "state": {"12"}, "time": {"20260101120000"}, "recordurl": {recordURL}}.Encode()
		resp, err := http.Post(st.cbURL+"/yt/"+secret+"/media", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, u := range []string{"javascript:alert(document.cookie)", "data:text/html,<script>x</script>", "//evil.example/a.wav"} {
		post(u)
	}
	const good = "https://records.example/a.wav"
	post(good)
	for n := range watcher.c.Notifications() {
		if !n.IsEvent() {
			continue
		}
		var p struct {
			RecordURL string `json:"recordurl"`
		}
		if err := n.Decode(&p); err != nil || n.Method != contract.NotifyMedia || p.RecordURL != good {
			t.Fatalf("first event after the callbacks: %s %s, want the good recording's %s", n.Method, n.Params, contract.NotifyMedia)
		}
		break
	}
	watcher.quiet(300 * time.Millisecond)
}

// httptestServer serves srv's handler and shuts srv down at the end.
func httptestServer(t *testing.T, srv *edge.Server) string {
	t.Helper()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return hs.URL
}

// Ended conferences: the events of a conference that has ended stay in the
// stream for its owner to resume, but resuming or watching one with a
// made-up seq replays nothing to anyone else, and says no more than for a
// confid never used.
func TestHostileResumeEndedConference(t *testing.T) {
	st := newStack(t)
	confID, _ := endWhileAway(t, st)

	mallory := st.dial(1, "mallory", client.WithResume(map[string]uint64{confID: 1, "87654321": 1}))
	mallory.quiet(500 * time.Millisecond)
	for _, since := range []uint64{0, 5} {
		if _, err := mallory.c.WatchConf(mallory.ctx(), confID, since); rpcCode(err) != 1001 {
			t.Fatalf("mallory WatchConf(%s, %d) of alice's ended conference: %v, want 1001", confID, since, err)
		}
	}
	if s := mallory.c.Stats(); s.Notifications != 0 {
		t.Fatalf("mallory got %d notifications", s.Notifications)
	}
	// A token that grants watching another conference grants nothing here;
	// nor does a resume from seq 0 (which the Go client never sends).
	grant := token.New("mallory2", time.Now(), time.Hour)
	grant.Watch = []string{"87654321"}
	q := "token=" + url.QueryEscape(mustSign(t, grant)) + "&resume=" + confID + ":0"
	c, status, err := rawDial(st.edges[0], "mallory2", q, nil)
	if err != nil {
		t.Fatalf("mallory2: HTTP %d: %v", status, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, msg, err := c.ReadMessage(); err == nil {
		t.Fatalf("mallory2 resuming alice's ended conference got %s", msg)
	}
	// Alice herself still can.
	alice := st.dial(0, "alice", client.WithResume(map[string]uint64{confID: 1}))
	ij := contract.NotifyInviteJoin
	dense(t, "alice", confID, alice.expect(ij, ij, ij, ij, contract.NotifyQuit, contract.NotifyQuit, contract.NotifyDel), 2)
}
