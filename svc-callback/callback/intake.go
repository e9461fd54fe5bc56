package callback

import (
	"context"
	"net/http"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/tracing"

	"go.opentelemetry.io/otel/trace"
)

// inbound is one callback as received: what the raw store keeps and the
// spool holds until the store answers again.
type inbound struct {
	Kind     string      `json:"kind"`
	PathRest string      `json:"path"` // after the secret (never stored)
	Method   string      `json:"method"`
	Query    string      `json:"query,omitempty"`
	Header   http.Header `json:"header,omitempty"` // without Authorization and Cookie
	Remote   string      `json:"remote"`
	Received time.Time   `json:"received"`
	Body     []byte      `json:"body"`
}

// newInbound takes what is kept of r.
func newInbound(r *http.Request, kind, pathRest string, body []byte, received time.Time) *inbound {
	h := make(http.Header, len(r.Header))
	for k, vs := range r.Header {
		if k != "Authorization" && k != "Cookie" {
			h[k] = vs
		}
	}
	return &inbound{Kind: kind, PathRest: pathRest, Method: r.Method, Query: r.URL.RawQuery,
		Header: h, Remote: r.RemoteAddr, Received: received, Body: body}
}

// intook is what intake did with one callback.
type intook struct {
	ev       *contract.Event // nil when not understood
	f        fields
	res      published
	rawSeq   uint64
	unparsed error             // why it was not understood (kept and marked)
	span     trace.SpanContext // the callback's span, for its log lines (none when tracing is off)
}

// intake keeps in as received, parses it, and stores its event or marks
// it not understood. Its errors wrap errUnavailable: the store did not
// answer, and nothing was lost that a later intake of in would not redo
// (both stores de-duplicate).
func (s *Server) intake(ctx context.Context, in *inbound) (intook, error) {
	var out intook
	var err error
	if out.rawSeq, err = s.raw.keep(ctx, in); err != nil {
		return out, err
	}
	out.ev, out.f, out.unparsed = s.parse(in.Kind, in.Query, in.Header.Get("Content-Type"), in.Body, in.Received)
	if out.unparsed != nil {
		out.ev = nil
		return out, s.raw.markUnparsed(ctx, in.Kind, out.rawSeq, out.unparsed)
	}
	ctx = s.traced(ctx, in, out.ev)
	out.span = trace.SpanContextFromContext(ctx)
	start := time.Now()
	out.res, err = s.pub.publish(ctx, out.ev, identify(out.ev))
	s.metrics.latency.Observe(time.Since(start).Seconds())
	code := ""
	if err != nil {
		code = outcomeUnavailable
	}
	tracing.End(ctx, code)
	return out, err
}

// traced starts the span of the callback of ev, received as in, in the
// trace of the platform command that caused it: the InviteJoinConf that
// dialled its call, else the CreateConf of its conference (tracing,
// calls.go). With tracing off it returns ctx.
func (s *Server) traced(ctx context.Context, in *inbound, ev *contract.Event) context.Context {
	tr := s.cfg.Tracer
	if tr == nil {
		return ctx
	}
	parent := tr.Recall(ctx, ev.ConfID, ev.CallID)
	return tr.Callback(ctx, parent, in.Kind, ev.ConfID, ev.CallID, in.Received)
}
