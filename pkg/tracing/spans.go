package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the spans. Never a phone number (pkg/pii): the ids
// below are the ones the logs carry in full too.
const (
	AttrConfID   = "confapplet.conf_id"
	AttrCallID   = "confapplet.call_id"
	AttrClientID = "confapplet.client_id"
	AttrReqID    = "confapplet.req_id"
	AttrKind     = "confapplet.callback.kind"
	AttrSeq      = "confapplet.event.seq"
	AttrWatchers = "confapplet.watchers"
)

// propagator reads and writes W3C trace context (traceparent, tracestate).
var propagator = propagation.TraceContext{}

// noSpan is what a span-returning function gives when there is nothing to
// trace: it does nothing and costs nothing.
var noSpan = trace.SpanFromContext(context.Background())

// headerCarrier is a NATS message's headers (nats.Header, micro.Headers:
// both maps of this type) as the propagator reads and writes them. NATS
// header names are case-sensitive; W3C's are lower case on both sides.
type headerCarrier map[string][]string

func (h headerCarrier) Get(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h headerCarrier) Set(k, v string) { h[k] = []string{v} }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx's span into the headers of a NATS
// message; with no span (tracing off) it writes nothing. h is only
// indexed, never handed to the propagator (an interface), so a header map
// the caller builds on its stack stays there.
func Inject(ctx context.Context, h map[string][]string) {
	if h == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	c := headerCarrier{}
	propagator.Inject(ctx, c)
	for k, v := range c {
		h[k] = v
	}
}

// extract reads the trace context from a NATS message's headers.
func extract(h map[string][]string) trace.SpanContext {
	if len(h["traceparent"]) == 0 {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), headerCarrier(h)))
}

// Request starts the span of one browser request at the edge: a root (a
// browser's trace context is not trusted), named for the method. The
// returned context carries it to Inject and End; without a provider it is
// context.Background().
func (p *Provider) Request(method, confID, clientID string) context.Context {
	if p == nil {
		return context.Background()
	}
	attrs := []attribute.KeyValue{attribute.String("rpc.system", "jsonrpc"), attribute.String("rpc.method", method),
		attribute.String(AttrClientID, clientID)}
	if confID != "" {
		attrs = append(attrs, attribute.String(AttrConfID, confID))
	}
	ctx, _ := p.tr.Start(context.Background(), "edge "+method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx
}

// Serve starts the span of one NATS request a service handles (ctx: the
// request's context), a child of the caller's span whose trace context is
// in the request's headers h.
func (p *Provider) Serve(ctx context.Context, h map[string][]string, service, method, clientID, reqID string) context.Context {
	if p == nil {
		return ctx
	}
	if sc := extract(h); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	ctx, _ = p.tr.Start(ctx, service+" "+method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("rpc.system", "nats"), attribute.String("rpc.method", method),
		attribute.String(AttrClientID, clientID), attribute.String(AttrReqID, reqID)))
	return ctx
}

// Callback starts the span of one platform callback of kind, dated from
// when it was received, as a child of parent (the trace context of the
// command that caused it, from Recall; a root when there is none).
func (p *Provider) Callback(ctx context.Context, parent trace.SpanContext, kind, confID, callID string, received time.Time) context.Context {
	if p == nil {
		return ctx
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	ctx, _ = p.tr.Start(ctx, "callback "+kind, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(received),
		trace.WithAttributes(attribute.String(AttrKind, kind), attribute.String(AttrConfID, confID), attribute.String(AttrCallID, callID)))
	return ctx
}

// Fanout starts the span of handing one stored event (its message headers
// h) to the watchers of its conference on one edge: a child of the span
// that stored it. One span per event per edge, not per watcher. An event
// stored without trace context gets none. The caller ends it.
func (p *Provider) Fanout(h map[string][]string, confID string, seq uint64, watchers int) trace.Span {
	if p == nil {
		return noSpan
	}
	sc := extract(h)
	if !sc.IsValid() {
		return noSpan
	}
	_, sp := p.tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), sc), "edge fan-out",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String(AttrConfID, confID),
			attribute.Int64(AttrSeq, int64(seq)), attribute.Int(AttrWatchers, watchers)))
	return sp
}

// Annotate adds one attribute to ctx's span, if it is recorded.
func Annotate(ctx context.Context, key, value string) {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.SetAttributes(attribute.String(key, value))
	}
}

// End ends ctx's span. code, when not empty, marks it failed: a contract
// error code or the platform's status, never a message (messages may quote
// personal data).
func End(ctx context.Context, code string) {
	sp := trace.SpanFromContext(ctx)
	if !sp.SpanContext().IsValid() {
		return
	}
	if code != "" {
		sp.SetStatus(codes.Error, code)
	}
	sp.End()
}
