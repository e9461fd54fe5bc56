package e2e

import (
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/tracing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// tracer is a service's tracer into st.traces; nil (tracing off) unless
// the test set it.
func (st *stack) tracer(service, instance string) *tracing.Provider {
	if st.traces == nil {
		return nil
	}
	return tracing.NewSync(service, instance, st.traces)
}

// TestInvitationIsOneTrace: with tracing on, an InviteJoinConf and the
// callbacks of the call it dialled are one trace across the services: the
// edge's request span → svc-conference's span (trace context in the NATS
// request's headers) → the platform REST call's span; each callback's span
// in svc-callback is a child of svc-conference's span (through the traces
// bucket, as the platform echoes no header), and the edge's fan-out of
// each stored event a child of its callback's span (trace context in the
// stored event's headers). No span carries a phone number, and the log
// lines written inside the spans name the trace.
func TestInvitationIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	st := newStack(t, func(s *stack) { s.traces = exp })
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	callID, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}
	st.ring()
	alice.expect(contract.NotifyInviteJoin, contract.NotifyInviteJoin)

	// A fan-out span ends after the notification is queued: wait for both.
	var spans tracetest.SpanStubs
	testkit.Eventually(t, "two fan-out spans of the call's callbacks", 5*time.Second, func() bool {
		spans = exp.GetSpans()
		return len(find(spans, "edge fan-out", callbackOf(spans, callID))) == 2
	})

	edgeReq := one(t, spans, "edge InviteJoinConf", nil)
	tid := edgeReq.SpanContext.TraceID()
	if got := service(edgeReq); got != "svc-edge" || attr(edgeReq, tracing.AttrConfID) != confID || attr(edgeReq, tracing.AttrClientID) != "alice" {
		t.Errorf("edge request span: service %q, attributes %v", got, edgeReq.Attributes)
	}
	conf := one(t, spans, "conference InviteJoinConf", childOf(edgeReq))
	rest := one(t, spans, "yuntongxun InviteJoinConf", childOf(conf))
	if service(conf) != "svc-conference" || attr(rest, "confapplet.platform.status_code") != "000000" || attr(rest, "http.response.status_code") != "200" {
		t.Errorf("conference/platform spans: %q %v", service(conf), rest.Attributes)
	}
	callbacks := find(spans, "", func(s tracetest.SpanStub) bool {
		return strings.HasPrefix(s.Name, "callback ") && attr(s, tracing.AttrCallID) == callID
	})
	if len(callbacks) != 2 {
		t.Fatalf("%d callback spans of call %s, want 2 (invite, joined)", len(callbacks), callID)
	}
	for _, cb := range callbacks {
		if cb.Parent.SpanID() != conf.SpanContext.SpanID() || cb.SpanContext.TraceID() != tid || service(cb) != "svc-callback" {
			t.Errorf("%s: parent %s trace %s, want svc-conference's span %s in trace %s", cb.Name, cb.Parent.SpanID(), cb.SpanContext.TraceID(), conf.SpanContext.SpanID(), tid)
		}
		fan := one(t, spans, "edge fan-out", childOf(cb))
		if attr(fan, tracing.AttrConfID) != confID || attr(fan, tracing.AttrWatchers) != "1" || fan.SpanContext.TraceID() != tid {
			t.Errorf("fan-out of %s: %v", cb.Name, fan.Attributes)
		}
	}
	for _, s := range spans {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.Emit(), answering[3:]) {
				t.Errorf("span %s: attribute %s = %q holds the phone number", s.Name, a.Key, a.Value.Emit())
			}
		}
	}

	// Log lines written inside the spans name the trace.
	logs := st.logs.String()
	for _, want := range []string{`"invited"`, `"callback stored"`} {
		if !logLineWith(logs, want, `"trace_id":"`+tid.String()+`"`) {
			t.Errorf("no %s log line with trace_id %s", want, tid)
		}
	}
}

func logLineWith(logs string, parts ...string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// find returns the spans named name ("" = any) that keep says to keep (nil
// = all).
func find(spans tracetest.SpanStubs, name string, keep func(tracetest.SpanStub) bool) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if (name == "" || s.Name == name) && (keep == nil || keep(s)) {
			out = append(out, s)
		}
	}
	return out
}

// one is the only span named name that keep keeps.
func one(t *testing.T, spans tracetest.SpanStubs, name string, keep func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	got := find(spans, name, keep)
	if len(got) != 1 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name+"("+s.SpanContext.SpanID().String()+"←"+s.Parent.SpanID().String()+")")
		}
		t.Fatalf("%d spans %q, want 1; spans: %s", len(got), name, strings.Join(names, " "))
	}
	return got[0]
}

func childOf(parent tracetest.SpanStub) func(tracetest.SpanStub) bool {
	return func(s tracetest.SpanStub) bool {
		return s.Parent.SpanID() == parent.SpanContext.SpanID() && s.SpanContext.TraceID() == parent.SpanContext.TraceID()
	}
}

// callbackOf keeps the spans whose parent is a callback span of callID.
func callbackOf(spans tracetest.SpanStubs, callID string) func(tracetest.SpanStub) bool {
	parents := map[trace.SpanID]bool{}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "callback ") && attr(s, tracing.AttrCallID) == callID {
			parents[s.SpanContext.SpanID()] = true
		}
	}
	return func(s tracetest.SpanStub) bool { return parents[s.Parent.SpanID()] }
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func service(s tracetest.SpanStub) string {
	v, _ := s.Resource.Set().Value(attribute.Key("service.name"))
	return v.Emit()
}
