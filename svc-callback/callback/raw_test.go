package callback

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// TestReprocessAfterParserFix is the recovery path end to end: an instance
// runs a parser with a bug (it knows only the root "request"), so two
// callbacks with another root are not understood: they are answered 200,
// kept raw and marked, and produce no event. Then the documented command,
// `svc-callback reprocess` (Run with the fixed parser), turns exactly those
// into their events, with their original arrival time; a body still not
// understood stays marked, and a second run changes nothing.
func TestReprocessAfterParserFix(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	fixed := in.srv.parse
	in.srv.parse = func(kind, query, ct string, body []byte, received time.Time) (*contract.Event, fields, error) {
		if !bytes.Contains(body, []byte("<request>")) {
			return nil, nil, badBody("xml: root element is not request")
		}
		return fixed(kind, query, ct, body, received)
	}
	const conf = "30040050"
	posts := []struct{ kind, body string }{
		{"created", xmlBody("request", "confid", conf, "createtime", "20261128103000")},
		{"invite", xmlBody("Notify", "confid", conf, "callSid", callA, "number", "13800138005", "result", "0", "jointime", "20261128103001")},
		{"joined", xmlBody("Notify", "confid", conf, "callSid", callA, "number", "13800138005", "result", "0", "jointime", "20261128103002")},
		{"quit", "%%% still garbage 13800138005"},
	}
	for _, p := range posts {
		if code, body := in.post(t, testSecret, p.kind, "text/plain", p.body); code != http.StatusOK || body != EmptyResponse {
			t.Fatalf("%s: %d %q", p.kind, code, body)
		}
	}
	if evs := e.events(conf); len(evs) != 1 {
		t.Fatalf("%d events before the fix, want 1", len(evs))
	}
	if raw, marked := e.rawCounts(); raw != 4 || marked != 3 {
		t.Fatalf("raw stream: %d raw, %d marked; want 4 and 3", raw, marked)
	}
	if n := in.outcome("invite", outcomeUnparsed) + in.outcome("joined", outcomeUnparsed); n != 2 {
		t.Errorf("unparsed counted %v, want 2", n)
	}
	// Phone numbers are masked in the log, the raw body is not.
	if logs := in.logs.String(); strings.Contains(logs, "13800138005") || !strings.Contains(logs, "138****8005") {
		t.Errorf("log does not mask the number:\n%s", logs)
	}

	var out bytes.Buffer
	env := mapEnv(map[string]string{"NATS_URL": e.ns.ClientURL()})
	if err := Run(context.Background(), []string{"reprocess"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "published 2, still not understood 1") {
		t.Fatalf("reprocess output:\n%s", out.String())
	}
	evs := e.events(conf)
	if len(evs) != 3 || evs[1].Kind != contract.KindInvite || evs[2].Kind != contract.KindJoined ||
		evs[2].Result == nil || *evs[2].Result != 0 || evs[2].Seq != 3 {
		t.Fatalf("events after reprocess: %+v", evs)
	}
	if !evs[2].Received.Before(evs[1].Received.Add(time.Minute)) || evs[2].Received.IsZero() {
		t.Errorf("received times %v %v", evs[1].Received, evs[2].Received)
	}
	if _, marked := e.rawCounts(); marked != 1 {
		t.Errorf("%d markers left, want 1 (the garbage)", marked)
	}

	out.Reset()
	if err := Run(context.Background(), []string{"reprocess"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "published 0, still not understood 1") || len(e.events(conf)) != 3 {
		t.Fatalf("second run: %s, %d events", out.String(), len(e.events(conf)))
	}
}

// TestRawKeptWithHeaders: the raw message holds the body byte for byte,
// the request's headers, the query, the method and the arrival time, and
// never the secret; a platform retry of the same request is kept once.
func TestRawKeptWithHeaders(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	body := xmlBody("request", "confid", "30040051", "createtime", "20261128103000")
	req, _ := http.NewRequest(http.MethodPost, in.http.URL+"/yt/"+testSecret+"//created?x=1", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=utf-8")
	req.Header.Set("X-Platform", "ytx")
	for range 2 {
		resp, err := in.http.Client().Do(req.Clone(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req.Body = ioNop(body)
	}
	ctx := context.Background()
	st, err := e.js.Stream(ctx, RawStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != body || m.Subject != rawSubjectPrefix+"created" ||
		m.Header.Get("Http-X-Platform") != "ytx" || m.Header.Get("Http-Content-Type") != "text/plain;charset=utf-8" ||
		m.Header.Get(HeaderRawMethod) != "POST" || m.Header.Get(HeaderRawQuery) != "x=1" ||
		m.Header.Get(HeaderRawPath) != "//created" || m.Header.Get(HeaderRawReceived) == "" {
		t.Fatalf("raw message %s %q %v", m.Subject, m.Data, m.Header)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if strings.Contains(v, testSecret) || strings.Contains(k, testSecret) {
				t.Errorf("the secret is stored in header %s", k)
			}
		}
	}
	if _, err := st.GetMsg(ctx, 2); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("the retry was stored again (%v)", err)
	}
}

// TestLiberalParsing: the shapes the platform may use that are safe to
// accept: GET with query parameters, POST with the fields in the query,
// any XML root, JSON under any wrapper, GBK and GB18030 bodies (declared or
// not), GBK form values, and both time formats.
func TestLiberalParsing(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	gbk := func(s string) string {
		b, err := simplifiedchinese.GBK.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gb18030 := func(s string) string {
		b, err := simplifiedchinese.GB18030.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, method, path, ctype, body string
		want                            contract.Event
	}{
		{"GET with query", http.MethodGet, "created?confid=4001&createtime=20261128103000", "", "",
			contract.Event{Kind: "created", ConfID: "4001", Time: "20261128103000"}},
		{"POST with the fields in the query", http.MethodPost, "deleted?confid=4002&deltime=2026-11-28+10:30:00", "", "",
			contract.Event{Kind: "deleted", ConfID: "4002", Time: "20261128103000"}},
		{"query and body together", http.MethodPost, "dismissed?confid=4003", "text/plain", xmlBody("request", "status", "0"),
			contract.Event{Kind: "dismissed", ConfID: "4003", Status: intp(0)}},
		{"another XML root", http.MethodPost, "created", "text/plain", xmlBody("Notify", "confid", "4004", "createtime", "2026-11-28 10:30:00"),
			contract.Event{Kind: "created", ConfID: "4004", Time: "20261128103000"}},
		{"JSON under another wrapper", http.MethodPost, "created", "application/json", `{"notify":{"confid":"4005"}}`,
			contract.Event{Kind: "created", ConfID: "4005"}},
		{"GBK declared in the XML", http.MethodPost, "created", "text/plain",
			gbk(`<?xml version="1.0" encoding="GBK"?><request><confid>4006</confid><desc>会议已创建</desc></request>`),
			contract.Event{Kind: "created", ConfID: "4006"}},
		{"GB18030 declared in Content-Type", http.MethodPost, "created", "text/xml; charset=GB18030",
			gb18030(`<request><confid>4007</confid><desc>会议𠀀</desc></request>`),
			contract.Event{Kind: "created", ConfID: "4007"}},
		{"GBK undeclared", http.MethodPost, "created", "text/plain",
			gbk(`<request><confid>4008</confid><desc>成员</desc></request>`),
			contract.Event{Kind: "created", ConfID: "4008"}},
		{"ISO-8859-1 declared in Content-Type (Java's default)", http.MethodPost, "created", "text/plain; charset=ISO-8859-1",
			xmlBody("request", "confid", "4010", "createtime", "20261128103000"),
			contract.Event{Kind: "created", ConfID: "4010", Time: "20261128103000"}},
		{"ISO-8859-1 declared in the XML, Latin-1 bytes", http.MethodPost, "created", "text/xml",
			"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><request><confid>4011</confid><desc>caf\xe9</desc></request>",
			contract.Event{Kind: "created", ConfID: "4011"}},
		{"GBK form value", http.MethodPost, "created", "application/x-www-form-urlencoded",
			"confid=4009&desc=" + urlEscape(gbk("会议")),
			contract.Event{Kind: "created", ConfID: "4009"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, in.http.URL+"/yt/"+testSecret+"/"+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := in.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d", resp.StatusCode)
			}
			evs := e.events(c.want.ConfID)
			if len(evs) != 1 {
				t.Fatalf("%d events (logs: %s)", len(evs), in.logs.String())
			}
			g := evs[0]
			if g.Kind != c.want.Kind || g.Time != c.want.Time || intStr(g.Status) != intStr(c.want.Status) {
				t.Fatalf("event %+v, want %+v", g, c.want)
			}
		})
	}
}

func TestMaskNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"number=13800138005":                       "number=138****8005",
		"<number>+8613800138005</number>":          "<number>+86138****8005</number>",
		"01087654321 and 075512345678":             "010****4321 and 075*****5678",
		"confid 60008165 time 20261128103000":      "confid 60008165 time 20261128103000",
		"callSid=1512231439405644000600080006e932": "callSid=1512231439405644000600080006e932",
	} {
		if got := maskNumbers(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// TestRawStreamLost: with the raw stream deleted, a callback is answered
// 503 (the platform retries; nothing was published without its raw copy);
// the stream is then recreated and the retry is kept and published.
func TestRawStreamLost(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, RawStream); err != nil {
		t.Fatal(err)
	}
	body := xmlBody("request", "confid", "30040060", "createtime", "20261128103000")
	code, _ := in.post(t, testSecret, "created", "text/plain", body)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("callback without the raw stream: %d, want 503", code)
	}
	if evs := e.events("30040060"); len(evs) != 0 {
		t.Fatalf("published without a raw copy: %+v", evs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ = in.post(t, testSecret, "created", "text/plain", body)
		if code == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusOK || len(e.events("30040060")) != 1 {
		t.Fatalf("retry: %d, %d events", code, len(e.events("30040060")))
	}
	if raw, _ := e.rawCounts(); raw != 1 {
		t.Fatalf("%d raw callbacks kept, want 1", raw)
	}
}

// TestUnparsedLogMasksNumbers: a number that makes a callback not
// understood is masked in the reason as in the raw body.
func TestUnparsedLogMasksNumbers(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	body := xmlBody("request", "confid", "1001", "callSid", callA, "number", "138 0013 8005 13800138005")
	if code, _ := in.post(t, testSecret, "invite", "text/plain", body); code != http.StatusOK {
		t.Fatalf("%d", code)
	}
	logs := in.logs.String()
	if !strings.Contains(logs, "kept for svc-callback reprocess") || strings.Contains(logs, "13800138005") {
		t.Errorf("log:\n%s", logs)
	}
}
