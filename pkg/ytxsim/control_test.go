package ytxsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlAPI(t *testing.T) {
	h := newHarness(t, nil)
	base := h.srv.URL + "/_sim"
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	inv, _ := h.c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	h.clock.Advance(2 * time.Second)
	h.rx.expect(t, "created", "invite")

	st, b := do(t, "GET", base+"/confs", "")
	var confs []ConfSnapshot
	if st != 200 || json.Unmarshal([]byte(b), &confs) != nil || len(confs) != 1 || confs[0].ConfID != res.ConfID ||
		confs[0].Count != 1 || confs[0].Members[0].CallSid != inv.CallSid || confs[0].Members[0].State != "joined" {
		t.Errorf("confs %d %s", st, b)
	}
	st, b = do(t, "GET", base+"/calls", "")
	var calls []CallRecord
	if st != 200 || json.Unmarshal([]byte(b), &calls) != nil || len(calls) != 1 || calls[0].CallSid != inv.CallSid {
		t.Errorf("calls %d %s", st, b)
	}
	if st, _ := do(t, "POST", base+"/hangup?callid=nope", ""); st != 404 {
		t.Errorf("hangup unknown: %d", st)
	}
	if st, _ := do(t, "GET", base+"/hangup?callid="+inv.CallSid, ""); st != 405 {
		t.Errorf("hangup by GET: %d", st)
	}
	if st, b := do(t, "POST", base+"/hangup?callid="+inv.CallSid, ""); st != 204 {
		t.Errorf("hangup: %d %s", st, b)
	}
	h.rx.expect(t, "quit", "deleted")

	st, b = do(t, "PUT", base+"/rules", `[{"pattern":"^1","outcome":"busy","delay":"250ms"},{"pattern":".","outcome":"answer","delay":100,"hangup_after":"2s"}]`)
	if st != 200 {
		t.Fatalf("rules: %d %s", st, b)
	}
	rules := h.sim.Rules()
	if len(rules) != 2 || rules[0].Delay != 250*time.Millisecond || rules[1].Delay != 100*time.Millisecond || rules[1].HangupAfter != 2*time.Second {
		t.Errorf("rules %+v", rules)
	}
	for _, bad := range []string{`[{"pattern":"(","outcome":"busy"}]`, `[{"pattern":".","outcome":"boom"}]`, `[{"pattern":".","outcome":"busy","delay":"soon"}]`, `[{"pattern":".","outcome":"answer","hangupAfter":"1s"}]`, `{`} {
		if st, _ := do(t, "PUT", base+"/rules", bad); st != 400 {
			t.Errorf("rules %s: %d", bad, st)
		}
	}
	st, b = do(t, "GET", base+"/rules", "")
	var back []Rule
	if st != 200 || json.Unmarshal([]byte(b), &back) != nil || back[0].Delay != 250*time.Millisecond {
		t.Errorf("GET rules %s", b)
	}

	if st, _ := do(t, "PUT", base+"/latency?d=50ms", ""); st != 204 {
		t.Errorf("latency: %d", st)
	}
	if h.sim.nextLatency() != 50*time.Millisecond {
		t.Error("latency not set")
	}
	if st, _ := do(t, "PUT", base+"/latency?d=0s&tail=1s&ratio=1", ""); st != 204 || h.sim.nextLatency() != time.Second {
		t.Errorf("tail latency: %d", st)
	}
	for _, q := range []string{"d=fast", "d=-1s", "d=1ms&tail=x", "d=1ms&tail=1s&ratio=2"} {
		if st, _ := do(t, "PUT", base+"/latency?"+q, ""); st != 400 {
			t.Errorf("latency %s: %d", q, st)
		}
	}
	if st, _ := do(t, "GET", base+"/deliveries", ""); st != 200 {
		t.Errorf("deliveries: %d", st)
	}
	if st, _ := do(t, "GET", base+"/nope", ""); st != 404 {
		t.Errorf("unknown control path: %d", st)
	}
}

// TestCloseStopsEverything: Close returns while a callback delivery hangs
// and timers are pending, and leaves no goroutine of the simulator behind.
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	hang := make(chan struct{})
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	sim := New(Config{NotifyBaseURL: rx.URL, Clock: NewFakeClock(start)})
	srv := httptest.NewServer(sim)
	c, _ := yuntongxun.New(yuntongxun.Config{BaseURL: srv.URL + "/" + Version, AccountSID: DefaultAccountSID,
		AuthToken: DefaultAuthToken, AppID: DefaultAppID, Callbacks: testCallbacks, Now: func() time.Time { return start }})
	res, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	done := make(chan struct{})
	go func() { sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on an in-flight delivery")
	}
	sim.Close() // idempotent
	if _, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{}); err == nil {
		t.Error("command accepted after Close")
	}
	srv.Close()
	close(hang)
	rx.Close()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestRealClock runs a short call on the real clock, to prove the timer
// plumbing outside the fake.
func TestRealClock(t *testing.T) {
	rx := newReceiver(t)
	sim := New(Config{NotifyBaseURL: rx.srv.URL + "/yt/secret", Rules: []Rule{{Pattern: ".", Outcome: OutcomeAnswer, Delay: 10 * time.Millisecond, HangupAfter: 10 * time.Millisecond}}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, _ := yuntongxun.New(yuntongxun.Config{BaseURL: srv.URL + "/" + Version, AccountSID: DefaultAccountSID,
		AuthToken: DefaultAuthToken, AppID: DefaultAppID, Callbacks: testCallbacks})
	res, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	rx.expect(t, "created", "invite", "quit", "deleted")
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(start)
	var got []int
	c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	t1 := c.AfterFunc(time.Second, func() { got = append(got, 1) })
	c.AfterFunc(time.Second, func() {
		got = append(got, 10)
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, 15) })
	})
	if !t1.Stop() || t1.Stop() {
		t.Error("Stop")
	}
	c.Advance(1999 * time.Millisecond)
	c.Advance(time.Millisecond)
	if len(got) != 3 || got[0] != 10 || got[1] != 15 || got[2] != 2 {
		t.Errorf("order %v", got)
	}
	if !c.Now().Equal(start.Add(2*time.Second)) || c.Pending() != 0 {
		t.Errorf("now %v pending %d", c.Now(), c.Pending())
	}
	if c.BlockUntil(1, 10*time.Millisecond) {
		t.Error("BlockUntil with nothing pending")
	}
}

func TestLogLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LogLimit = 4; c.NotifyBaseURL = "" })
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 20})
	var last string
	for i := 0; i < 10; i++ {
		inv, err := h.c.InviteJoinConf(ctx, res.ConfID, "1390000000"+string(rune('0'+i)), yuntongxun.InviteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = inv.CallSid
	}
	calls := h.sim.Calls()
	if len(calls) < 4 || len(calls) > 5 || calls[len(calls)-1].CallSid != last {
		t.Errorf("%d calls kept, last %v", len(calls), calls[len(calls)-1])
	}
	// Calls of an ended conference are forgotten by Hangup.
	h.c.DismissConf(ctx, res.ConfID, yuntongxun.DismissConfOptions{})
	if len(h.sim.calls) != 0 {
		t.Errorf("%d calls still indexed", len(h.sim.calls))
	}
}
