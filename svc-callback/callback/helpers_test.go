package callback

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

const testSecret = "s3cr3t-Path"

// env is one embedded NATS plus any number of svc-callback instances.
type env struct {
	t  testing.TB
	ns *testkit.NATS
	js jetstream.JetStream
}

type instance struct {
	srv  *Server
	http *httptest.Server
	logs *testkit.Buffer
	nc   *nats.Conn
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ns := testkit.StartNATS(t)
	_, js := ns.ConnectJS(t)
	return &env{t: t, ns: ns, js: js}
}

// clientOpts make a connection that comes back quickly after a NATS restart
// and fails at once while NATS is away (as Run's does).
func clientOpts() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectBufSize(-1),
	}
}

func (e *env) start(mod func(*Config)) *instance {
	e.t.Helper()
	nc := e.ns.Connect(e.t, clientOpts()...)
	cfg := Config{Secret: testSecret, PublishTimeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	logs := &testkit.Buffer{}
	s, err := New(cfg, nc, zerolog.New(logs))
	if err != nil {
		e.t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(hs.Close)
	return &instance{srv: s, http: hs, logs: logs, nc: nc}
}

// post sends body to /yt/<secret>/<kind> and returns status and body.
func (in *instance) post(t *testing.T, secret, kind, contentType, body string) (int, string) {
	t.Helper()
	code, b, err := in.postErr(secret, kind, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// postErr is post for other goroutines than the test's.
func (in *instance) postErr(secret, kind, contentType, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, in.http.URL+"/yt/"+secret+"/"+kind, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := in.http.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (in *instance) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := in.http.Client().Get(in.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getOps is get on the ops handler (where /metrics is).
func (in *instance) getOps(t *testing.T, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	in.srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func (in *instance) outcome(kind, outcome string) float64 {
	return testutil.ToFloat64(in.srv.metrics.callbacks.WithLabelValues(kind, outcome))
}

// events returns every stored event of the stream in stream order (all
// conferences, or only confID's when given).
func (e *env) events(confID string) []contract.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		if err == jetstream.ErrStreamNotFound {
			return nil
		}
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []contract.Event
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatalf("get %d: %v", seq, err)
		}
		var ev contract.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			e.t.Fatalf("stored event %d: %v", seq, err)
		}
		if m.Subject != contract.EventsSubject(ev.ConfID) {
			e.t.Fatalf("event of %s stored on %s", ev.ConfID, m.Subject)
		}
		if confID == "" || ev.ConfID == confID {
			out = append(out, ev)
		}
	}
	return out
}

const callA = "0123456789abcdef0123456789ABCDEF"
const callB = "fedcba9876543210fedcba9876543210"

func xmlBody(root string, fields ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><` + root + `>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString("<" + fields[i] + ">" + fields[i+1] + "</" + fields[i] + ">")
	}
	b.WriteString(`</` + root + `>`)
	return b.String()
}

// rawCounts is how many raw callbacks and unparsed markers the raw stream
// holds.
func (e *env) rawCounts() (raw, marked uint64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, RawStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		e.t.Fatal(err)
	}
	for subj, n := range info.State.Subjects {
		if strings.HasPrefix(subj, rawSubjectPrefix) {
			raw += n
		} else {
			marked += n
		}
	}
	return raw, marked
}

func ioNop(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func urlEscape(s string) string { return url.QueryEscape(s) }
