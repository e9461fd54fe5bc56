package ytxsim

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

// start is the fake time every test's clock starts at: when the test binary
// started, so the suite passes on any day (NewFakeClockNow).
var start = NewFakeClockNow().Now()

// platformTime is start+d as the platform writes times in callbacks.
func platformTime(d time.Duration) string {
	return start.Add(d).In(yuntongxun.Shanghai()).Format(yuntongxun.TimeLayout)
}

// cb is one callback as the receiver saw it.
type cb struct {
	kind, ctype, body string
	f                 map[string]string
	root              string
}

// receiver is the app's notification endpoint: it records callbacks and
// answers with status(kind, attempt of that exact body).
type receiver struct {
	srv    *httptest.Server
	ch     chan cb
	mu     sync.Mutex
	seen   map[string]int
	status func(kind string, attempt int) int
}

func newReceiver(t *testing.T) *receiver {
	rx := &receiver{ch: make(chan cb, 1000), seen: map[string]int{}}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := cb{kind: r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], ctype: r.Header.Get("Content-Type"), body: string(body)}
		if !strings.HasPrefix(r.URL.Path, "/yt/secret/") {
			t.Errorf("callback to %s, want under /yt/secret/", r.URL.Path)
		}
		c.f, c.root = parseCallback(t, c.ctype, body)
		rx.mu.Lock()
		rx.seen[c.body]++
		attempt := rx.seen[c.body]
		st := 200
		if rx.status != nil {
			st = rx.status(c.kind, attempt)
		}
		rx.mu.Unlock()
		rx.ch <- c
		w.WriteHeader(st)
		io.WriteString(w, `<Response><statuscode>000000</statuscode></Response>`)
	}))
	t.Cleanup(rx.srv.Close)
	return rx
}

func parseCallback(t *testing.T, ctype string, body []byte) (map[string]string, string) {
	f := map[string]string{}
	if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("form body %q: %v", body, err)
		}
		for k := range v {
			f[k] = v.Get(k)
		}
		return f, ""
	}
	var doc struct {
		XMLName xml.Name
		Kids    []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		t.Errorf("callback body %q: %v", body, err)
	}
	for _, k := range doc.Kids {
		f[k.XMLName.Local] = k.Text
	}
	return f, doc.XMLName.Local
}

// next returns the next callback, failing after 5 s.
func (rx *receiver) next(t *testing.T) cb {
	t.Helper()
	select {
	case c := <-rx.ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no callback within 5 s")
		return cb{}
	}
}

// expect reads len(kinds) callbacks and checks their kinds in order.
func (rx *receiver) expect(t *testing.T, kinds ...string) []cb {
	t.Helper()
	var out []cb
	for i, k := range kinds {
		c := rx.next(t)
		if c.kind != k {
			t.Fatalf("callback %d: kind %s (%s), want %s", i, c.kind, c.body, k)
		}
		out = append(out, c)
	}
	return out
}

// none checks that no callback is pending once the sim is idle.
func (rx *receiver) none(t *testing.T, s *Sim) {
	t.Helper()
	waitIdle(t, s)
	select {
	case c := <-rx.ch:
		t.Fatalf("unexpected callback %s: %s", c.kind, c.body)
	default:
	}
}

// waitIdle waits until the simulator has no callback queued.
func waitIdle(t *testing.T, s *Sim) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !s.deliveryIdle() {
		if time.Now().After(deadline) {
			t.Fatal("callbacks still queued after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// harness is a simulator on a fake clock behind a real HTTP server, a
// client of it, and a callback receiver.
type harness struct {
	clock *FakeClock
	sim   *Sim
	srv   *httptest.Server
	c     *yuntongxun.Client
	rx    *receiver
}

var testCallbacks = yuntongxun.CallbackURLs{
	Created: "/created", Invite: "/invite", Quit: "/quit",
	Deleted: "/deleted", Dismissed: "/dismissed", Media: "/media",
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{clock: NewFakeClock(start), rx: newReceiver(t)}
	cfg := Config{
		NotifyBaseURL: h.rx.srv.URL + "/yt/secret/",
		Clock:         h.clock,
		RetryBackoff:  time.Second,
		Seed:          1,
	}
	if mod != nil {
		mod(&cfg)
	}
	h.sim = New(cfg)
	h.srv = httptest.NewServer(h.sim)
	t.Cleanup(func() {
		h.srv.Close()
		h.sim.Close()
	})
	var err error
	h.c, err = yuntongxun.New(yuntongxun.Config{
		BaseURL: h.srv.URL + "/" + Version, AccountSID: DefaultAccountSID, AuthToken: DefaultAuthToken,
		AppID: DefaultAppID, Callbacks: testCallbacks, Now: h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
