package tracing

import (
	"context"

	"confapplet/pkg/logging"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// With adds the trace and span ids of ctx's span to a logger being built,
// so every line of an operation's logger names its trace. Without a span
// (tracing off) it adds nothing.
func With(ctx context.Context, c zerolog.Context) zerolog.Context {
	return WithSpan(trace.SpanContextFromContext(ctx), c)
}

// WithSpan is With for a span context kept beside the logger's other
// fields.
func WithSpan(sc trace.SpanContext, c zerolog.Context) zerolog.Context {
	if !sc.IsValid() {
		return c
	}
	return c.Str(logging.TraceID, sc.TraceID().String()).Str(logging.SpanID, sc.SpanID().String())
}

// Tag adds the trace and span ids of ctx's span to one log line (nothing
// without a span, and nothing when the line is not written).
func Tag(ctx context.Context, e *zerolog.Event) *zerolog.Event {
	return TagSpan(trace.SpanContextFromContext(ctx), e)
}

// TagSpan is Tag for a span context kept beside the line's other fields.
func TagSpan(sc trace.SpanContext, e *zerolog.Event) *zerolog.Event {
	if e == nil || !sc.IsValid() {
		return e
	}
	return e.Str(logging.TraceID, sc.TraceID().String()).Str(logging.SpanID, sc.SpanID().String())
}
