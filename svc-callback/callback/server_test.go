package callback

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func intp(n int) *int { return &n }

// Every encoding the platform may use, for every kind, is stored as the
// same typed event.
func TestBodyVariantsAreStored(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)

	type variant struct {
		name, kind, ctype, body string
		want                    contract.Event
	}
	created := contract.Event{Kind: contract.KindCreated, ConfID: "1001", CallID: callA, Time: "20261128103000"}
	variants := []variant{
		{"xml Request text/plain", "created", "text/plain",
			xmlBody("Request", "confid", "1001", "callSid", callA, "createtime", "20261128103000"), created},
		{"xml request application/xml", "created", "application/xml",
			xmlBody("request", "confid", "1002", "callid", callA, "createtime", "20261128103000"),
			contract.Event{Kind: "created", ConfID: "1002", CallID: callA, Time: "20261128103000"}},
		{"xml upper-case names, no content type, BOM and blanks", "invite", "",
			"\xef\xbb\xbf\n  " + xmlBody("REQUEST", "CONFID", "1003", "CALLSID", callA, "Number", "13800138000", "JoinTime", "20261128103001", "Result", "0"),
			contract.Event{Kind: "invite", ConfID: "1003", CallID: callA, Number: "13800138000", Time: "20261128103001", Result: intp(0)}},
		{"xml with unknown and nested elements ignored", "invite", "text/xml",
			xmlBody("request", "action", "InviteJoinConf", "appid", "app1", "extra", "<a>1</a>", "confid", "1004", "callid", callA, "jointime", "20261128103002", "result", "17"),
			contract.Event{Kind: "invite", ConfID: "1004", CallID: callA, Time: "20261128103002", Result: intp(17)}},
		{"form", "quit", "application/x-www-form-urlencoded",
			"confid=1005&callSid=" + callA + "&number=%2B8613800138000&quittime=20261128103003",
			contract.Event{Kind: "quit", ConfID: "1005", CallID: callA, Number: "+8613800138000", Time: "20261128103003"}},
		{"form under text/plain, the original protocol's jointime as quit time", "quit", "text/plain",
			"CONFID=1006&CallId=" + callA + "&JoinTime=20261128103004",
			contract.Event{Kind: "quit", ConfID: "1006", CallID: callA, Time: "20261128103004"}},
		{"json flat", "joined", "application/json",
			`{"confid":"1007","callSid":"` + callA + `","number":"13800138000","jointime":"20261128103005","result":0}`,
			contract.Event{Kind: "joined", ConfID: "1007", CallID: callA, Number: "13800138000", Time: "20261128103005", Result: intp(0)}},
		{"json wrapped, numbers as numbers", "deleted", "text/plain",
			`{"Request":{"ConfId":10080,"DelTime":"20261128103006"}}`,
			contract.Event{Kind: "deleted", ConfID: "10080", Time: "20261128103006"}},
		{"xml dismissed", "dismissed", "text/plain",
			xmlBody("Request", "confid", "1009", "status", "0"),
			contract.Event{Kind: "dismissed", ConfID: "1009", Status: intp(0)}},
		{"form media (mediaopturl read as parameters)", "media", "application/x-www-form-urlencoded",
			"confid=1010&notifytype=12&result=0&state=12&recordduration=30&recordurl=http%3A%2F%2Fr.example%2Fa.wav",
			contract.Event{Kind: "media", ConfID: "1010", Result: intp(0),
				Media: map[string]string{"notifytype": "12", "state": "12", "recordduration": "30", "recordurl": "http://r.example/a.wav"}}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			code, body := in.post(t, testSecret, v.kind, v.ctype, v.body)
			if code != http.StatusOK || body != EmptyResponse {
				t.Fatalf("got %d %q, want 200 with the ack", code, body)
			}
			got := e.events(v.want.ConfID)
			if len(got) != 1 {
				t.Fatalf("stored %d events, want 1", len(got))
			}
			g := got[0]
			if g.Seq != 1 || g.Received.IsZero() {
				t.Errorf("seq %d received %v", g.Seq, g.Received)
			}
			g.Seq, g.Received = 0, v.want.Received
			if !reflect.DeepEqual(g, v.want) {
				t.Errorf("stored\n %+v (result %s status %s)\nwant\n %+v (result %s status %s)",
					g, istr(g.Result), istr(g.Status), v.want, istr(v.want.Result), istr(v.want.Status))
			}
		})
	}
	if n := in.outcome("created", outcomePublished); n != 2 {
		t.Errorf("published metric for created = %v, want 2", n)
	}
}

func istr(p *int) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// Bodies that cannot be understood are kept raw and marked, answered 200
// (so the platform does not give up), counted, logged with the raw body,
// and no event is published.
func TestBadBodiesAreKeptAndNeverPublished(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	bad := []struct{ name, kind, body string }{
		{"empty", "created", ""},
		{"blank", "created", "  \n "},
		{"garbage", "created", "%%%not a body"},
		{"xml unclosed", "created", `<Request><confid>1001</confid>`},
		{"xml two roots", "created", xmlBody("Request", "confid", "1001") + xmlBody("Request", "confid", "1001")},
		{"xml doctype", "created", `<!DOCTYPE x [<!ENTITY a "b">]>` + xmlBody("Request", "confid", "1001")},
		{"xml text after root", "created", xmlBody("Request", "confid", "1001") + "junk"},
		{"confid missing", "created", xmlBody("Request", "createtime", "20261128103000")},
		{"confid too short", "created", xmlBody("Request", "confid", "123")},
		{"confid too long", "created", xmlBody("Request", "confid", "123456789")},
		{"confid not digits", "created", xmlBody("Request", "confid", "12a4")},
		{"confid with subject dot", "created", `confid=12.34`},
		{"callid malformed", "invite", xmlBody("Request", "confid", "1001", "callid", "short", "jointime", "20261128103000")},
		{"callid missing for invite", "invite", xmlBody("Request", "confid", "1001", "jointime", "20261128103000")},
		{"callid missing for quit", "quit", `confid=1001&quittime=20261128103000`},
		{"time 13 digits", "created", xmlBody("Request", "confid", "1001", "createtime", "2026112810300")},
		{"time month 13", "created", xmlBody("Request", "confid", "1001", "createtime", "20261328103000")},
		{"time with separators", "deleted", xmlBody("Request", "confid", "1001", "deltime", "2026-11-28 10:30")},
		{"result not a number", "invite", xmlBody("Request", "confid", "1001", "callid", callA, "result", "ok")},
		{"status not a number", "dismissed", `{"confid":"1001","status":"x"}`},
		{"conflicting duplicate field", "created", xmlBody("Request", "confid", "1001", "CONFID", "1002")},
		{"json array", "created", `[{"confid":"1001"}]`},
		{"json trailing data", "created", `{"confid":"1001"} {"confid":"1002"}`},
		{"json structured known field", "created", `{"confid":{"v":"1001"}}`},
		{"form bad escape", "created", `confid=1001&x=%zz`},
		{"media without notifytype", "media", `confid=1001&result=0`},
		{"media notifytype not a number", "media", `confid=1001&notifytype=mute`},
		{"recordurl javascript:", "media", `confid=1001&notifytype=12&recordurl=javascript%3Aalert(1)`},
		{"recordurl data:", "media", `confid=1001&notifytype=12&recordurl=data%3Atext%2Fhtml%2C%3Cscript%3E`},
		{"recordurl without host", "media", `confid=1001&notifytype=12&recordurl=http%3A%2Fpath`},
		{"number with spaces", "invite", xmlBody("Request", "confid", "1001", "callid", callA, "number", "138 0013")},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			code, body := in.post(t, testSecret, b.kind, "text/plain", b.body)
			if code != http.StatusOK || body != EmptyResponse {
				t.Fatalf("got %d %q, want 200 with the empty response", code, body)
			}
		})
	}
	if got := e.events(""); len(got) != 0 {
		t.Fatalf("bad bodies published %d events: %+v", len(got), got)
	}
	logs := in.logs.String()
	if !strings.Contains(logs, `"raw":"%%%not a body"`) || !strings.Contains(logs, "kept for svc-callback reprocess") {
		t.Errorf("log lacks the raw body of a bad callback:\n%s", logs)
	}
	if n := in.outcome("created", outcomeUnparsed); n < 10 {
		t.Errorf("unparsed metric = %v", n)
	}
	// Every one is in the raw stream, with its marker.
	if raw, marked := e.rawCounts(); raw != uint64(len(bad)) || marked != uint64(len(bad)) {
		t.Errorf("raw stream holds %d callbacks and %d markers, want %d of each", raw, marked, len(bad))
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	in := e.start(func(c *Config) { c.MaxBody = 1024 })
	big := xmlBody("Request", "confid", "1001", "pad", strings.Repeat("x", 2000))
	if code, _ := in.post(t, testSecret, "created", "text/plain", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d, want 413", code)
	}
	if got := e.events(""); len(got) != 0 {
		t.Fatalf("published %d", len(got))
	}
	// Just under the limit is fine.
	ok := xmlBody("Request", "confid", "1001", "pad", strings.Repeat("x", 900))
	if code, _ := in.post(t, testSecret, "created", "text/plain", ok); code != http.StatusOK {
		t.Fatalf("got %d, want 200", code)
	}
}

// A wrong secret looks exactly like any unknown path, and nothing is
// published; with the right secret, a path naming no kind is kept raw and
// marked (answered 200), never published.
func TestWrongSecretIs404UnknownKindIsKept(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	body := xmlBody("Request", "confid", "1001", "createtime", "20261128103000")
	_, plain404 := in.get(t, "/nothing-here")
	for _, c := range []struct{ secret, kind string }{
		{"wrong", "created"},
		{testSecret + "x", "created"},
		{strings.ToUpper(testSecret), "created"},
		{"", "created"},
	} {
		code, got := in.post(t, c.secret, c.kind, "text/plain", body)
		if code != http.StatusNotFound || got != plain404 {
			t.Errorf("secret %q kind %q: got %d %q, want 404 %q", c.secret, c.kind, code, got, plain404)
		}
	}
	if raw, _ := e.rawCounts(); raw != 0 {
		t.Errorf("%d callbacks with a wrong secret kept", raw)
	}
	for i, kind := range []string{"unknown", "created/extra", "", "alarmclock"} {
		b := xmlBody("Request", "confid", "1001", "n", strconv.Itoa(i))
		if code, got := in.post(t, testSecret, kind, "text/plain", b); code != http.StatusOK || got != EmptyResponse {
			t.Errorf("right secret, kind %q: got %d %q, want 200 kept", kind, code, got)
		}
	}
	if raw, marked := e.rawCounts(); raw != 4 || marked != 4 {
		t.Errorf("unknown kinds: %d kept, %d marked; want 4 and 4", raw, marked)
	}
	if got := e.events(""); len(got) != 0 {
		t.Fatalf("published %d events", len(got))
	}
	if strings.Contains(in.logs.String(), "wrong") && strings.Contains(in.logs.String(), testSecret) {
		t.Errorf("a secret leaked into the logs")
	}
	// Right secret, wrong method: 405 (GET and POST are taken).
	req, _ := http.NewRequest(http.MethodPut, in.http.URL+"/yt/"+testSecret+"/created", strings.NewReader(body))
	resp, err := in.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestSourceAllowList(t *testing.T) {
	e := newEnv(t)
	denied := e.start(func(c *Config) { c.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	body := xmlBody("Request", "confid", "1001", "createtime", "20261128103000")
	if code, _ := denied.post(t, testSecret, "created", "text/plain", body); code != http.StatusForbidden {
		t.Fatalf("got %d, want 403", code)
	}
	if code, _ := denied.post(t, "wrong", "created", "text/plain", body); code != http.StatusForbidden {
		t.Fatalf("wrong secret from a denied source: got %d, want 403 (before the secret check)", code)
	}
	if got := e.events(""); len(got) != 0 {
		t.Fatalf("published %d events", len(got))
	}
	allowed := e.start(func(c *Config) {
		ps, err := ParseCIDRs("10.0.0.0/8, 127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c.AllowCIDRs = ps
	})
	if code, _ := allowed.post(t, testSecret, "created", "text/plain", body); code != http.StatusOK {
		t.Fatalf("allowed source: got %d", code)
	}
}

// A platform retry is stored once, whether it arrives right after the
// original, after other events, or concurrently on two instances.
func TestDuplicatesArePublishedOnce(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	other := e.start(nil)
	join := xmlBody("Request", "confid", "2001", "callid", callA, "jointime", "20261128103000", "result", "0")
	join2 := xmlBody("Request", "confid", "2001", "callid", callB, "jointime", "20261128103001", "result", "0")
	quitA := xmlBody("Request", "confid", "2001", "callid", callA, "quittime", "20261128103500")

	for i, step := range []struct {
		in   *instance
		kind string
		body string
	}{
		{in, "invite", join},
		{in, "invite", join},    // immediate retry: the latest event's key
		{other, "invite", join}, // on another instance
		{in, "invite", join2},
		{other, "invite", join}, // after another event: JetStream's Nats-Msg-Id
		{in, "quit", quitA},     // same call, later state: a new event
		{in, "quit", quitA},
	} {
		if code, body := step.in.post(t, testSecret, step.kind, "text/plain", step.body); code != http.StatusOK || body != EmptyResponse {
			t.Fatalf("step %d: %d %q", i, code, body)
		}
	}
	got := e.events("2001")
	if len(got) != 3 {
		t.Fatalf("stored %d events, want 3: %+v", len(got), got)
	}
	for i, want := range []struct {
		kind, call string
	}{{"invite", callA}, {"invite", callB}, {"quit", callA}} {
		if got[i].Kind != want.kind || got[i].CallID != want.call || got[i].Seq != uint64(i+1) {
			t.Errorf("event %d = %+v", i, got[i])
		}
	}
	dups := in.outcome("invite", outcomeDuplicate) + other.outcome("invite", outcomeDuplicate) + in.outcome("quit", outcomeDuplicate)
	if dups != 4 {
		t.Errorf("duplicate outcomes = %v, want 4", dups)
	}
}

// A dismissed or media callback without an event time may legitimately
// repeat (mute, unmute, mute): a repeat is stored unless it is a retry of
// the conference's latest event.
func TestRepeatableEventsWithoutTime(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	mute := "confid=3001&callid=" + callA + "&notifytype=4&result=0"
	unmute := "confid=3001&callid=" + callA + "&notifytype=14&result=0"
	for i, b := range []string{mute, mute, unmute, unmute, mute} {
		if code, _ := in.post(t, testSecret, "media", "application/x-www-form-urlencoded", b); code != http.StatusOK {
			t.Fatalf("step %d: %d", i, code)
		}
	}
	got := e.events("3001")
	if len(got) != 3 || got[0].Media["notifytype"] != "4" || got[1].Media["notifytype"] != "14" || got[2].Media["notifytype"] != "4" {
		t.Fatalf("stored %+v, want mute, unmute, mute", got)
	}
}

// Sequences are dense and in stream order when two instances store
// callbacks of one conference concurrently (each sent twice, too).
func TestConcurrentSequencesAreDense(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		call := fmt.Sprintf("%032d", i)
		body := xmlBody("Request", "confid", "4001", "callid", call, "jointime", fmt.Sprintf("202611281030%02d", i%60), "result", "0")
		for _, in := range []*instance{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, err := in.postErr(testSecret, "invite", "text/plain", body)
				if err != nil || code != http.StatusOK {
					errs <- fmt.Errorf("call %s: %d %v", call, code, err)
				}
			}()
		}
		// A second conference at the same time must not disturb the first.
		other := xmlBody("Request", "confid", "4002", "callid", call, "jointime", "20261128103000")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, err := a.postErr(testSecret, "joined", "text/plain", other); err != nil || code != http.StatusOK {
				errs <- fmt.Errorf("4002 call %s: %d %v", call, code, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		for _, in := range []*instance{a, b} {
			for _, l := range strings.Split(in.logs.String(), "\n") {
				if strings.Contains(l, `"error"`) {
					t.Log(l)
				}
			}
		}
	}
	for _, conf := range []string{"4001", "4002"} {
		got := e.events(conf)
		if len(got) != n {
			t.Fatalf("%s: stored %d events, want %d", conf, len(got), n)
		}
		seen := map[string]bool{}
		for i, ev := range got {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d in stream order has seq %d", conf, i, ev.Seq)
			}
			if seen[ev.CallID] {
				t.Fatalf("%s: call %s stored twice", conf, ev.CallID)
			}
			seen[ev.CallID] = true
		}
	}
	dup := a.outcome("invite", outcomeDuplicate) + b.outcome("invite", outcomeDuplicate)
	if dup != n {
		t.Errorf("duplicates = %v, want %d", dup, n)
	}
}

// With NATS stopped the platform gets a non-2xx answer; once NATS is back,
// its retry is stored (once, with the next sequence).
func TestNATSDownThenRetry(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	first := xmlBody("Request", "confid", "5001", "createtime", "20261128103000")
	if code, _ := in.post(t, testSecret, "created", "text/plain", first); code != http.StatusOK {
		t.Fatalf("before: %d", code)
	}
	if code, _ := in.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before: %d", code)
	}

	e.ns.Stop()
	testkit.Eventually(t, "client to notice", 20*time.Second, func() bool { return !in.nc.IsConnected() })

	join := xmlBody("Request", "confid", "5001", "callid", callA, "jointime", "20261128103010", "result", "0")
	code, _ := in.post(t, testSecret, "invite", "text/plain", join)
	if code < 300 {
		t.Fatalf("NATS down: got %d, want non-2xx", code)
	}
	if code != http.StatusServiceUnavailable {
		t.Errorf("NATS down: got %d, want 503", code)
	}
	if code, _ := in.get(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while NATS down: %d", code)
	}
	if code, _ := in.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("healthz while NATS down: %d", code)
	}

	e.ns.Start()
	_, e.js = e.ns.ConnectJS(t) // a fresh handle on the restarted server
	testkit.Eventually(t, "readyz after restart", 20*time.Second, func() bool { code, _ := in.get(t, "/readyz"); return code == http.StatusOK })

	if code, body := in.post(t, testSecret, "invite", "text/plain", join); code != http.StatusOK || body != EmptyResponse {
		t.Fatalf("retry after restart: %d %q", code, body)
	}
	if code, _ := in.post(t, testSecret, "invite", "text/plain", join); code != http.StatusOK {
		t.Fatalf("second retry: %d", code)
	}
	got := e.events("5001")
	if len(got) != 2 || got[1].Kind != "invite" || got[1].Seq != 2 {
		t.Fatalf("stored %+v", got)
	}
	if in.outcome("invite", outcomeUnavailable) != 1 {
		t.Errorf("unavailable metric = %v", in.outcome("invite", outcomeUnavailable))
	}
}

func TestOpsEndpoints(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	if code, body := in.get(t, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, _ := in.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("readyz %d", code)
	}
	in.post(t, testSecret, "created", "text/plain", xmlBody("Request", "confid", "6001", "createtime", "20261128103000"))
	in.post(t, testSecret, "created", "text/plain", xmlBody("Request", "confid", "6001", "createtime", "20261128103000"))
	in.post(t, "nope", "created", "text/plain", "")
	code, body := in.getOps(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`confapplet_callback_callbacks_total{kind="created",outcome="published"} 1`,
		`confapplet_callback_callbacks_total{kind="created",outcome="duplicate"} 1`,
		`confapplet_callback_callbacks_total{kind="unknown",outcome="not_found"} 1`,
		`confapplet_callback_duplicates_total{kind="created"} 1`,
		`confapplet_callback_publish_seconds_count 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	logs := in.logs.String()
	if !strings.Contains(logs, `"conf_id":"6001"`) || !strings.Contains(logs, `"seq":1`) {
		t.Errorf("log lines lack conf_id/seq:\n%s", logs)
	}
}

// When another instance stores an event between our read of the last event
// and our publish, JetStream refuses ours (wrong last subject sequence) and
// we read again: both events are stored, with seqs 1 and 2.
func TestSequenceConflictIsRetried(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	bBody := xmlBody("Request", "confid", "7001", "callid", callB, "jointime", "20261128103001")
	interleaved := false
	a.srv.pub.BeforePublish = func(ev *contract.Event) {
		if interleaved {
			return
		}
		interleaved = true
		if code, _, err := b.postErr(testSecret, "joined", "text/plain", bBody); err != nil || code != http.StatusOK {
			t.Errorf("interleaved callback: %d %v", code, err)
		}
	}
	aBody := xmlBody("Request", "confid", "7001", "callid", callA, "jointime", "20261128103000")
	if code, _ := a.post(t, testSecret, "joined", "text/plain", aBody); code != http.StatusOK {
		t.Fatalf("got %d", code)
	}
	got := e.events("7001")
	if len(got) != 2 || got[0].CallID != callB || got[0].Seq != 1 || got[1].CallID != callA || got[1].Seq != 2 {
		t.Fatalf("stored %+v", got)
	}
	if n := testutil.ToFloat64(a.srv.metrics.conflicts); n != 1 {
		t.Errorf("conflicts = %v, want 1", n)
	}
}

// If the events stream disappears (an operator deleted it, NATS came back
// without its store), the callback gets 503 and the platform's retry
// recreates it.
func TestStreamRecreated(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	body := xmlBody("Request", "confid", "9001", "createtime", "20261128103000")
	if code, _ := in.post(t, testSecret, "created", "text/plain", body); code != http.StatusOK {
		t.Fatalf("first: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.js.DeleteStream(ctx, contract.EventsStream); err != nil {
		t.Fatal(err)
	}
	code, _ := in.post(t, testSecret, "created", "text/plain", body)
	if code == http.StatusOK {
		// Recreated at once: also fine, as long as it is stored.
		if got := e.events("9001"); len(got) != 1 {
			t.Fatalf("stored %d", len(got))
		}
		return
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("stream gone: %d, want 503", code)
	}
	if code, _ := in.post(t, testSecret, "created", "text/plain", body); code != http.StatusOK {
		t.Fatalf("retry: %d", code)
	}
	if got := e.events("9001"); len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("stored %+v", got)
	}
}

// The callback listener, which the platform (and anyone) reaches, serves no
// metrics and no profiles: they are on the ops listener only.
func TestMetricsOnlyOnOps(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine"} {
		if code, _ := in.get(t, path); code != http.StatusNotFound {
			t.Errorf("GET %s on the callback listener: %d, want 404", path, code)
		}
	}
	if code, body := in.getOps(t, "/metrics"); code != http.StatusOK || !strings.Contains(body, "confapplet_callback_") {
		t.Errorf("GET /metrics on the ops listener: %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := in.getOps(t, path); code != http.StatusOK {
			t.Errorf("GET %s on the ops listener: %d", path, code)
		}
	}
}

// An invite's outcome is a new event even when it carries the same time as
// the result-less invite before it (or none): the member must not stay
// ringing because the outcome was taken for a retry.
func TestInviteOutcomeIsNotARetryOfRinging(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	ringing := xmlBody("Request", "confid", "2002", "callid", callA)
	joined := xmlBody("Request", "confid", "2002", "callid", callA, "result", "0")
	for i, body := range []string{ringing, ringing, joined, joined} {
		if code, reply := in.post(t, testSecret, "invite", "text/plain", body); code != http.StatusOK || reply != EmptyResponse {
			t.Fatalf("post %d: %d %q", i, code, reply)
		}
	}
	got := e.events("2002")
	if len(got) != 2 || got[0].Result != nil || got[1].Result == nil || *got[1].Result != 0 {
		t.Fatalf("stored %+v, want the ringing invite then its outcome", got)
	}
}
