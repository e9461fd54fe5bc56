package yuntongxun

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*")

// Fixed credentials and clock of the golden and known-answer tests.
const (
	testSID   = "aaf98f8944f35b8e0144f5b3e0d0003b"
	testToken = "a7d2c7a4a2bd4c1d8a3c36fbe3e0ab25"
	testApp   = "8a48b5514a61a814014a8a8a8f1d0c2b"
)

// testNow is the fixed input of the known-answer and golden tests, not a
// clock origin: sig, Authorization and testdata/golden/* were worked out
// for this instant (12:00:00 in Shanghai), and no test here sends it to
// anything that compares it with the wall clock (the simulator's 24-hour
// check is exercised with its own clock, pkg/ytxsim TestClockRule), so
// the tests pass on any day.
var testNow = time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC)

// TestAuthKnownAnswer checks sig and Authorization against values worked
// out outside Go:
//
//	printf '%s' 'aaf98f8944f35b8e0144f5b3e0d0003ba7d2c7a4a2bd4c1d8a3c36fbe3e0ab2520261128120000' | md5sum
//	printf '%s' 'aaf98f8944f35b8e0144f5b3e0d0003b:20261128120000' | base64
func TestAuthKnownAnswer(t *testing.T) {
	const ts = "20261128120000"
	if got, want := signature(testSID, testToken, ts), "3E448B3406FA1D1ADDF56F51336DEA8F"; got != want {
		t.Errorf("Sig = %s, want %s", got, want)
	}
	if got, want := authorization(testSID, ts), "YWFmOThmODk0NGYzNWI4ZTAxNDRmNWIzZTBkMDAwM2I6MjAyNjExMjgxMjAwMDA="; got != want {
		t.Errorf("Authorization = %s, want %s", got, want)
	}
	c := newTestClient(t, "http://127.0.0.1:1/2013-12-26", nil)
	if got := c.timestamp(); got != ts {
		t.Errorf("timestamp = %s, want %s (Asia/Shanghai)", got, ts)
	}
}

// recorder is a fake platform that records each request as text and
// answers with the reply function.
type recorder struct {
	mu    sync.Mutex
	reqs  []string
	reply func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
	var names []string
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, b.String())
	rec.mu.Unlock()
	rec.reply(w, r)
}

func (rec *recorder) last() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		return ""
	}
	return rec.reqs[len(rec.reqs)-1]
}

func xmlReply(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml;charset=utf-8")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response>`+body+`</Response>`)
	}
}

var allCallbacks = CallbackURLs{
	Created: "/created", Invite: "/invite", Joined: "/joined", Quit: "/quit",
	Deleted: "/deleted", Dismissed: "/dismissed", Media: "/media",
}

func newTestClient(t *testing.T, base string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL: base, AccountSID: testSID, AuthToken: testToken, AppID: testApp,
		Callbacks: allCallbacks, Now: func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoldenRequests pins the exact bytes of every command's request: path,
// query, headers and body, for fixed credentials and clock. Run with
// -update to rewrite testdata/golden after a deliberate change, and review
// the diff.
func TestGoldenRequests(t *testing.T) {
	rec := &recorder{reply: xmlReply(`<statusCode>000000</statusCode><confid>60008165</confid><voiptoconfid>80008165</voiptoconfid><callSid>1512231439405644000600080006e932</callSid><orderId>CM10001</orderId><state>1</state><count>2</count>`)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/2013-12-26/", nil)
	ctx := context.Background()
	const conf = "60008165"
	const call = "1512231439405644000600080006e932"
	vm, ad := 0, false
	cases := []struct {
		name string
		run  func() error
	}{
		{"CreateConf", func() error { _, err := c.CreateConf(ctx, CreateConfOptions{MaxMember: 5}); return err }},
		{"CreateConf_all", func() error {
			_, err := c.CreateConf(ctx, CreateConfOptions{MaxMember: 300, Passwd: "12<&>\"'", DtmfReportURL: "/dtmf", AutoJoin: true,
				ConfDuration: 3600, AutoHangup: true, ConfEndPrompt: "end.wav", AutoRecord: true, VoiceMod: &vm, AutoDelete: &ad, ShortConf: true})
			return err
		}},
		{"CreateConf_default", func() error { _, err := c.CreateConf(ctx, CreateConfOptions{}); return err }},
		{"DismissConf", func() error { return c.DismissConf(ctx, conf, DismissConfOptions{}) }},
		{"DismissConf_autohangup", func() error {
			return c.DismissConf(ctx, conf, DismissConfOptions{AutoHangup: true, RecordURL: "/rec"})
		}},
		{"InviteJoinConf", func() error {
			_, err := c.InviteJoinConf(ctx, conf, "13812345678#02150001234", InviteOptions{})
			return err
		}},
		{"InviteJoinConf_host", func() error {
			_, err := c.InviteJoinConf(ctx, conf, "13812345678", InviteOptions{Host: true, Listener: true})
			return err
		}},
		{"QuitConf", func() error { return c.QuitConf(ctx, conf, call) }},
		{"QueryConfState", func() error { _, err := c.QueryConfState(ctx, conf); return err }},
		{"ConfMute", func() error { return c.ConfMute(ctx, conf, call) }},
		{"ConfUnMute", func() error { return c.ConfUnMute(ctx, conf, call) }},
		{"ConfPlay", func() error {
			return c.ConfPlay(ctx, conf, PlayOptions{FileName: "hello.wav", Loop: -1, PlayCompleteURL: "/played"})
		}},
		{"ConfStopPlay", func() error { return c.ConfStopPlay(ctx, conf) }},
		{"ConfRecord", func() error { return c.ConfRecord(ctx, conf, RecordOptions{Time: 60, TimeoutRecordURL: "/rectimeout"}) }},
		{"ConfStopRecord", func() error { return c.ConfStopRecord(ctx, conf) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			got := rec.last()
			path := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("request differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestGoldenPinsAuth proves the goldens carry the independently computed
// sig and Authorization, so -update cannot quietly bless a wrong signature.
func TestGoldenPinsAuth(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "CreateConf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"POST /2013-12-26/Accounts/" + testSID + "/ivr/createconf?sig=3E448B3406FA1D1ADDF56F51336DEA8F&maxmember=5 HTTP/1.1\n",
		"Authorization: YWFmOThmODk0NGYzNWI4ZTAxNDRmNWIzZTBkMDAwM2I6MjAyNjExMjgxMjAwMDA=\n",
		"Content-Type: application/xml;charset=utf-8\n",
		`<?xml version="1.0" encoding="UTF-8"?><Request><Appid>` + testApp + `</Appid><CreateConf action="/created" maxmember="5" delreporturl="/deleted" joinurl="/joined" quiturl="/quit" mediaopturl="/media"/></Request>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("golden lacks %q", want)
		}
	}
}

func TestCallbacksOmittedWhenEmpty(t *testing.T) {
	rec := &recorder{reply: xmlReply(`<statusCode>000000</statusCode><callSid>x</callSid>`)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/2013-12-26", func(cfg *Config) { cfg.Callbacks = CallbackURLs{Invite: "/invite"} })
	if _, err := c.InviteJoinConf(context.Background(), "1234", "13800000000", InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := `<InviteJoinConf confid="1234" number="13800000000" action="/invite"/>`; !strings.Contains(rec.last(), want) {
		t.Errorf("body %q lacks %q", rec.last(), want)
	}
}

func TestResponseVariants(t *testing.T) {
	cases := []struct {
		name, ct, body string
		want           InviteResult
	}{
		{"xml callSid", "application/xml", `<?xml version="1.0"?><Response><statusCode>000000</statusCode><callSid>A1</callSid><orderId>O1</orderId></Response>`, InviteResult{"A1", "O1"}},
		{"xml callid lower", "text/xml", `<Response><statuscode>000000</statuscode><callid>A2</callid></Response>`, InviteResult{"A2", ""}},
		{"json", "application/json;charset=utf-8", `{"statusCode":"000000","callSid":"A3","orderId":"O3"}`, InviteResult{"A3", "O3"}},
		{"json nested", "application/json", `{"statusCode":"000000","InviteJoinConf":{"callid":"A4"}}`, InviteResult{"A4", ""}},
		{"no content type json", "", `{"statusCode":"000000","callSid":"A5"}`, InviteResult{"A5", ""}},
		{"no content type xml", "", `<Response><statusCode>000000</statusCode><callSid>A6</callSid></Response>`, InviteResult{"A6", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.ct != "" {
					w.Header().Set("Content-Type", tc.ct)
				} else {
					w.Header()["Content-Type"] = nil // suppress sniffing
				}
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, nil)
			got, err := c.InviteJoinConf(context.Background(), "1234", "13800000000", InviteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestQueryConfStateNumbersAndStrings(t *testing.T) {
	for _, body := range []string{`{"statusCode":"000000","state":1,"count":2}`, `{"statusCode":"000000","state":"1","count":"2"}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		c := newTestClient(t, srv.URL, nil)
		got, err := c.QueryConfState(context.Background(), "1234")
		srv.Close()
		if err != nil || got != (ConfState{State: 1, Count: 2}) {
			t.Errorf("%s: got %+v, %v", body, got, err)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ct     string
		body   string
		check  func(t *testing.T, err error)
	}{
		{"status code", 200, "application/xml", `<Response><statusCode>110128</statusCode><statusMsg>会议Id错误</statusMsg></Response>`, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != "110128" || se.StatusMsg != "会议Id错误" || se.Command != "DismissConf" {
				t.Errorf("got %#v", err)
			}
		}},
		{"json status code", 200, "application/json", `{"statusCode":"110095","statusMsg":"no"}`, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != "110095" {
				t.Errorf("got %#v", err)
			}
		}},
		{"http 500", 500, "text/plain", "boom", func(t *testing.T, err error) {
			var te *TransportError
			if !errors.As(err, &te) || te.HTTPStatus != 500 {
				t.Errorf("got %#v", err)
			}
		}},
		{"http 404 with xml", 404, "application/xml", `<Response><statusCode>000000</statusCode></Response>`, func(t *testing.T, err error) {
			var te *TransportError
			if !errors.As(err, &te) || te.HTTPStatus != 404 {
				t.Errorf("non-200 must be a transport error whatever the body; got %#v", err)
			}
		}},
		{"malformed", 200, "application/xml", `<Response><statusCode>000000</statusCode>`, func(t *testing.T, err error) {
			var te *TransportError
			if !errors.As(err, &te) || te.HTTPStatus != 200 {
				t.Errorf("got %#v", err)
			}
		}},
		{"no status", 200, "application/xml", `<Response><confid>1</confid></Response>`, func(t *testing.T, err error) {
			var te *TransportError
			if !errors.As(err, &te) {
				t.Errorf("got %#v", err)
			}
		}},
		{"empty", 200, "application/xml", ``, func(t *testing.T, err error) {
			var te *TransportError
			if !errors.As(err, &te) {
				t.Errorf("got %#v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, nil)
			err := c.DismissConf(context.Background(), "1234", DismissConfOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			tc.check(t, err)
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	errs := []error{
		c.DismissConf(ctx, "", DismissConfOptions{}),
		c.QuitConf(ctx, "1234", ""),
		c.ConfPlay(ctx, "1234", PlayOptions{}),
	}
	_, err := c.InviteJoinConf(ctx, "1234", "", InviteOptions{})
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%d: got %v", i, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("invalid calls reached the platform %d times", hits.Load())
	}
}

func TestNew(t *testing.T) {
	for _, cfg := range []Config{
		{AccountSID: "a", AuthToken: "b"},
		{AccountSID: "a", AuthToken: "b", AppID: "c", BaseURL: "ftp://x"},
		{AccountSID: "a", AuthToken: "b", AppID: "c", BaseURL: "nohost"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	c, err := New(Config{AccountSID: "a", AuthToken: "b", AppID: "c"})
	if err != nil || c.base != ProductionBaseURL {
		t.Errorf("default base: %v %v", c, err)
	}
}

// TestNoRetryOfStateChangingCommands proves that a command that may dial or
// create is sent once even when the platform fails, while QueryConfState
// is retried.
func TestNoRetryOfStateChangingCommands(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	calls := map[string]func() error{
		"CreateConf":     func() error { _, err := c.CreateConf(ctx, CreateConfOptions{}); return err },
		"InviteJoinConf": func() error { _, err := c.InviteJoinConf(ctx, "1234", "13800000000", InviteOptions{}); return err },
		"DismissConf":    func() error { return c.DismissConf(ctx, "1234", DismissConfOptions{}) },
		"QuitConf":       func() error { return c.QuitConf(ctx, "1234", "c") },
		"ConfMute":       func() error { return c.ConfMute(ctx, "1234", "c") },
		"ConfRecord":     func() error { return c.ConfRecord(ctx, "1234", RecordOptions{}) },
	}
	for name, call := range calls {
		hits.Store(0)
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%s sent %d times, want exactly once", name, n)
		}
	}
}

func TestQueryConfStateRetries(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			http.Error(w, "unavailable", http.StatusBadGateway)
			return
		}
		io.WriteString(w, `<Response><statusCode>000000</statusCode><state>1</state><count>3</count></Response>`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	got, err := c.QueryConfState(context.Background(), "1234")
	if err != nil || got != (ConfState{1, 3}) || hits.Load() != 3 {
		t.Fatalf("got %+v %v after %d attempts", got, err, hits.Load())
	}

	// A statusCode answer is final: one attempt.
	hits.Store(0)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `<Response><statusCode>110128</statusCode></Response>`)
	}))
	defer srv2.Close()
	c2 := newTestClient(t, srv2.URL, nil)
	if _, err := c2.QueryConfState(context.Background(), "1234"); err == nil || hits.Load() != 1 {
		t.Errorf("status error retried: %v after %d", err, hits.Load())
	}

	// The retries stop at the caller's deadline.
	hits.Store(0)
	srv3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv3.Close()
	c3 := newTestClient(t, srv3.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c3.QueryConfState(ctx, "1234"); err == nil {
		t.Error("no error")
	}
	// Generous: the point is that it does not wait out all 4 attempts
	// (100+200+400 ms of backoff).
	if el := time.Since(start); el > 600*time.Millisecond {
		t.Errorf("took %v, past the deadline", el)
	}
	if n := hits.Load(); n < 1 || n > 2 {
		t.Errorf("%d attempts within 150 ms, want 1–2 (100 ms backoff)", n)
	}
}

func TestContextDeadlineHonoured(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.CreateConf(ctx, CreateConfOptions{})
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a TransportError wrapping DeadlineExceeded", err)
	}

	// Config.Timeout bounds one exchange even without a caller deadline.
	c2 := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 30 * time.Millisecond })
	start := time.Now()
	if err := c2.ConfStopPlay(context.Background(), "1234"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Config.Timeout not applied")
	}
}

func TestStatusAndTransportErrorText(t *testing.T) {
	se := &StatusError{Command: "CreateConf", StatusCode: "110127", StatusMsg: "bad"}
	if se.Error() != "yuntongxun CreateConf: statusCode 110127: bad" {
		t.Error(se.Error())
	}
	inner := errors.New("x")
	te := &TransportError{Command: "QuitConf", HTTPStatus: 502, Err: inner}
	if !errors.Is(te, inner) || te.Error() != "yuntongxun QuitConf: HTTP 502: x" {
		t.Error(te.Error())
	}
}
