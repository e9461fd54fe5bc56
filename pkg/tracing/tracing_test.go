package tracing

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/svc"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestConfigFromEnvironment(t *testing.T) {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
	}
	c := DefaultConfig()
	f := svc.NewFlags("svc-test", "TEST_")
	c.Declare(f)
	if err := f.Parse(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !c.On() || c.tracesURL() != "http://collector:4318/v1/traces" || c.SamplerArg != 0.25 || c.Validate() != nil {
		t.Fatalf("config %+v: on %v, url %s, validate %v", c, c.On(), c.tracesURL(), c.Validate())
	}
	c.TracesEndpoint = "https://traces.example/api/spans"
	if c.tracesURL() != c.TracesEndpoint {
		t.Errorf("the traces endpoint must win: %s", c.tracesURL())
	}
	if DefaultConfig().On() {
		t.Error("tracing must be off by default")
	}
	for _, bad := range []Config{{Endpoint: "collector:4318"}, {Sampler: "sometimes"}, {Sampler: "traceidratio", SamplerArg: 2}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if p, err := New(DefaultConfig(), "svc-test", "", zerolog.Nop()); p != nil || err != nil {
		t.Errorf("off: New = %v, %v; want nil, nil", p, err)
	}
}

// TestExportAndFlushOnShutdown: spans go over OTLP/HTTP to the configured
// endpoint, and Shutdown sends the ones still batched.
func TestExportAndFlushOnShutdown(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	p, err := New(Config{Endpoint: srv.URL}, "svc-test", "i-1", zerolog.Nop())
	if err != nil || p == nil {
		t.Fatalf("New: %v, %v", p, err)
	}
	ctx := p.Request("QueryConfState", "12345678", "alice")
	End(ctx, "")
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("exported before the batch was due: %q", got)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "POST /v1/traces application/x-protobuf") ||
		!strings.Contains(got[0], "edge QueryConfState") || !strings.Contains(got[0], "svc-test") {
		t.Fatalf("collector got %q", got)
	}
}

// TestOffCostsNothing: without a provider or a span, what the hot paths
// call allocates nothing, writes no header and adds nothing to log lines.
func TestOffCostsNothing(t *testing.T) {
	var p *Provider
	h := nats.Header{"Confapplet-Event-Seq": {"7"}}
	ctx := context.Background()
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	allocs := testing.AllocsPerRun(100, func() {
		c := p.Request("InviteJoinConf", "12345678", "alice")
		Inject(c, h)
		c = p.Serve(ctx, h, "conference", "InviteJoinConf", "alice", "r-1")
		Annotate(c, AttrConfID, "12345678")
		End(c, "timeout")
		p.Fanout(h, "12345678", 7, 3).End()
		p.RememberCall(c, "x")
		Tag(c, nil)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run with tracing off, want 0", allocs)
	}
	if len(h) != 1 {
		t.Errorf("headers written with tracing off: %v", h)
	}
	Tag(ctx, log.Info()).Msg("x")
	l := With(ctx, log.With()).Logger()
	l.Info().Msg("y")
	if strings.Contains(buf.String(), "trace_id") || strings.Contains(buf.String(), "span_id") {
		t.Errorf("trace fields without a span: %s", buf.String())
	}
}

// TestPropagationThroughHeaders: the trace context crosses a NATS message
// (Inject → Serve, Inject → Fanout) as W3C traceparent, and log lines in a
// span carry its ids.
func TestPropagationThroughHeaders(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := NewSync("svc-test", "", exp)
	ctx := p.Request("InviteJoinConf", "12345678", "alice")
	h := nats.Header{}
	Inject(ctx, h)
	if tp := h.Get("traceparent"); len(tp) != 55 || !strings.HasPrefix(tp, "00-") {
		t.Fatalf("traceparent %q", tp)
	}
	sctx := p.Serve(context.Background(), h, "conference", "InviteJoinConf", "alice", "r-1")
	Annotate(sctx, AttrConfID, "12345678")
	var buf bytes.Buffer
	l := With(sctx, zerolog.New(&buf).With()).Logger()
	l.Info().Msg("in the span")
	End(sctx, "platform_error")
	p.Fanout(h, "12345678", 2, 5).End()
	End(ctx, "")

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	root := spans[2].SpanContext
	for _, s := range spans[:2] {
		if s.Parent.SpanID() != root.SpanID() || s.SpanContext.TraceID() != root.TraceID() || !s.Parent.IsRemote() {
			t.Errorf("%s: parent %v, want the remote %v", s.Name, s.Parent, root)
		}
	}
	if spans[0].Status.Description != "platform_error" {
		t.Errorf("status %+v", spans[0].Status)
	}
	if want := `"trace_id":"` + root.TraceID().String() + `","span_id":"` + spans[0].SpanContext.SpanID().String() + `"`; !strings.Contains(buf.String(), want) {
		t.Errorf("log line %s lacks %s", buf.String(), want)
	}
	// An event stored without trace context gets no fan-out span.
	if sp := p.Fanout(nats.Header{}, "12345678", 3, 1); sp.SpanContext().IsValid() {
		t.Error("fan-out span without a parent")
	}
}

// TestRememberRecall: a command's trace context, kept under its call id,
// is found again by another service's provider (the callback's parent).
func TestRememberRecall(t *testing.T) {
	ns := testkit.StartNATS(t)
	_, js := ns.ConnectJS(t)
	exp := tracetest.NewInMemoryExporter()
	conf, cb := NewSync("svc-conference", "", exp), NewSync("svc-callback", "", exp)
	conf.UseCalls(js, 1)
	cb.UseCalls(js, 1)
	ctx := conf.Request("InviteJoinConf", "12345678", "alice")
	want := trace.SpanContextFromContext(ctx)
	conf.RememberCall(ctx, "0123456789abcdef0123456789abcdef")

	got := cb.Recall(context.Background(), "12345678", "0123456789abcdef0123456789abcdef")
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("recalled %v, want %v", got, want)
	}
	if sc := cb.Recall(context.Background(), "87654321", "ffffffffffffffffffffffffffffffff"); sc.IsValid() {
		t.Errorf("recalled %v for keys never written", sc)
	}
	// A callback naming no call (or a call never remembered) belongs to
	// its conference's command.
	conf.RememberConf(ctx, "12345678")
	if sc := cb.Recall(context.Background(), "12345678", "ffffffffffffffffffffffffffffffff"); sc.SpanID() != want.SpanID() {
		t.Errorf("conference fallback: recalled %v", sc)
	}
	cctx := cb.Callback(context.Background(), got, "invite", "12345678", "0123456789abcdef0123456789abcdef", time.Now().Add(-time.Second))
	End(cctx, "")
	End(ctx, "")
	s := exp.GetSpans()[0]
	if s.Name != "callback invite" || s.Parent.SpanID() != want.SpanID() || time.Since(s.StartTime) < time.Second {
		t.Errorf("callback span %s: parent %v start %v", s.Name, s.Parent.SpanID(), s.StartTime)
	}
}
