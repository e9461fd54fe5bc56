package callback

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/testkit"
)

// forward runs in's forwarder until the test ends.
func (in *instance) forward(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.srv.Forward(ctx) }()
	t.Cleanup(func() { cancel(); <-done; in.srv.Close() })
}

// joinBody is conference confID's invite-result callback number i.
func joinBody(confID string, i int) string {
	return xmlBody("Request", "confid", confID, "callid", fmt.Sprintf("%032x", i),
		"jointime", "20261128103010", "result", "0")
}

// checkOrder fails unless confID's stored events are the n invites posted,
// in posting order, with seq 1..n.
func checkOrder(t *testing.T, e *env, confID string, n int) {
	t.Helper()
	got := e.events(confID)
	if len(got) != n {
		t.Fatalf("conference %s: %d events stored, want %d", confID, len(got), n)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.CallID != fmt.Sprintf("%032x", i) {
			t.Fatalf("conference %s event %d: seq %d call %s (want seq %d call %032x)", confID, i, ev.Seq, ev.CallID, i+1, i)
		}
	}
}

// While NATS is down, callbacks are answered 200 from the spool and stored
// in arrival order once it is back; without a spool the same callback gets
// 503 (TestNATSDownThenRetry).
func TestSpoolKeepsCallbacksWhileStoreIsDown(t *testing.T) {
	e := newEnv(t)
	in := e.start(func(c *Config) { c.SpoolDir = t.TempDir(); c.PublishTimeout = time.Second })
	in.forward(t)
	if code, _ := in.post(t, testSecret, "invite", "text/plain", joinBody("6001", 0)); code != http.StatusOK {
		t.Fatalf("before the outage: %d", code)
	}
	e.ns.Stop()
	testkit.Eventually(t, "client to notice", 20*time.Second, func() bool { return !in.nc.IsConnected() })
	for i := 1; i < 20; i++ {
		for _, conf := range []string{"6001", "6002"} {
			if conf == "6002" && i == 1 {
				if code, _ := in.post(t, testSecret, "invite", "text/plain", joinBody(conf, 0)); code != http.StatusOK {
					t.Fatalf("6002 #0 during the outage: %d", code)
				}
			}
			code, body := in.post(t, testSecret, "invite", "text/plain", joinBody(conf, i))
			if code != http.StatusOK || body != EmptyResponse {
				t.Fatalf("%s #%d during the outage: %d %q", conf, i, code, body)
			}
		}
	}
	// Still ready: a load balancer must keep sending callbacks here.
	if code, body := in.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("readyz with a spool while NATS is down: %d %s", code, body)
	}
	if got := in.outcome("invite", outcomeSpooled); got != 39 {
		t.Errorf("spooled = %v, want 39", got)
	}
	if _, body := in.getOps(t, "/metrics"); !containsLine(body, "confapplet_callback_spool_pending 39") {
		t.Errorf("spool_pending gauge not 39 in:\n%s", grepLines(body, "spool"))
	}

	e.ns.Start()
	_, e.js = e.ns.ConnectJS(t)
	testkit.Eventually(t, "spool forwarded", 30*time.Second, func() bool { return in.srv.spool.empty() })
	checkOrder(t, e, "6001", 20)
	checkOrder(t, e, "6002", 20)
	raw, _ := e.rawCounts()
	if raw != 40 {
		t.Errorf("raw stream holds %d callbacks, want 40", raw)
	}
	// Drained: the slot file is emptied, and new callbacks go straight
	// to the store again.
	if st, err := os.Stat(filepath.Join(in.srv.cfg.SpoolDir, "slot-0")); err != nil || st.Size() != 0 {
		t.Errorf("slot after draining: %v %v", st, err)
	}
	if code, _ := in.post(t, testSecret, "invite", "text/plain", joinBody("6001", 20)); code != http.StatusOK {
		t.Fatalf("after: %d", code)
	}
	if got := in.outcome("invite", outcomePublished); got != 1+1 {
		t.Errorf("published directly = %v, want 2 (before and after the outage)", got)
	}
}

// What a process spooled and did not forward (it stopped, or crashed
// mid-append) is forwarded by the next process on the same directory;
// two live processes never share a slot.
func TestSpoolOutlivesTheProcess(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	first := e.start(func(c *Config) { c.SpoolDir = dir; c.PublishTimeout = time.Second })
	e.ns.Stop()
	testkit.Eventually(t, "client to notice", 20*time.Second, func() bool { return !first.nc.IsConnected() })
	for i := range 5 {
		if code, _ := first.post(t, testSecret, "invite", "text/plain", joinBody("7001", i)); code != http.StatusOK {
			t.Fatalf("#%d: %d", i, code)
		}
	}
	// A second live process takes another slot, and leaves slot-0 alone.
	second, err := openSpool(dir, DefaultSpoolMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.adopted) != 0 || !second.empty() || filepath.Base(second.own.f.Name()) != "slot-1" {
		t.Fatalf("second process: slot %s, adopted %d, pending %d", second.own.f.Name(), len(second.adopted), second.pending.Load())
	}
	second.close()
	// A crash in the middle of an append: a torn record after the five.
	f, err := os.OpenFile(filepath.Join(dir, "slot-0"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 1, 0, 9, 9})
	_ = f.Close()
	first.srv.Close()

	e.ns.Start()
	_, e.js = e.ns.ConnectJS(t)
	next := e.start(func(c *Config) { c.SpoolDir = dir })
	if n := next.srv.spool.pending.Load(); n != 5 {
		t.Fatalf("next process found %d spooled callbacks, want 5 (torn record cut)", n)
	}
	next.forward(t)
	testkit.Eventually(t, "spool forwarded", 30*time.Second, func() bool { return next.srv.spool.empty() })
	checkOrder(t, e, "7001", 5)
}

// A full spool refuses with 503 rather than lose the callback silently.
func TestSpoolFullIs503(t *testing.T) {
	e := newEnv(t)
	in := e.start(func(c *Config) { c.SpoolDir = t.TempDir(); c.SpoolMaxBytes = 1 << 20; c.PublishTimeout = time.Second })
	e.ns.Stop()
	testkit.Eventually(t, "client to notice", 20*time.Second, func() bool { return !in.nc.IsConnected() })
	big := xmlBody("Request", "confid", "8001", "callid", callA, "jointime", "20261128103010", "result", "0", "pad", strings.Repeat("x", 40<<10))
	var refused int
	for range 40 {
		code, _ := in.post(t, testSecret, "invite", "text/plain", big)
		if code == http.StatusServiceUnavailable {
			refused++
		} else if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if refused == 0 || in.outcome("invite", outcomeSpooled) == 0 {
		t.Fatalf("refused %d, spooled %v: want some of each past 1 MiB", refused, in.outcome("invite", outcomeSpooled))
	}
	// Full: not ready any more, so a load balancer may try another instance.
	if code, _ := in.get(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with a full spool while NATS is down: %d", code)
	}
	// The store is back but the spool is still full (nothing forwards it
	// here): a new callback is stored directly instead of refused.
	e.ns.Start()
	_, e.js = e.ns.ConnectJS(t)
	testkit.Eventually(t, "readyz with the store back", 20*time.Second, func() bool { code, _ := in.get(t, "/readyz"); return code == http.StatusOK })
	big2 := strings.Replace(big, "<confid>8001<", "<confid>8002<", 1)
	if code, _ := in.post(t, testSecret, "invite", "text/plain", big2); code != http.StatusOK {
		t.Fatalf("a callback with the store back and the spool full: %d", code)
	}
	if got := e.events("8002"); len(got) != 1 {
		t.Fatalf("stored events of 8002: %d, want 1", len(got))
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
