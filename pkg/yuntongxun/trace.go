package yuntongxun

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// A command sent within a traced operation gets a client span of its own,
// from the caller's tracer: the client needs no configuration, and with
// tracing off (no recording span in ctx) it costs one context lookup. The
// span carries the command's name, the HTTP status and the platform's
// statusCode; never the URL (its sig derives from the auth token), the
// body (phone numbers) or an error message (it may quote either). No trace
// context is sent to the platform: it is a third party.

const tracerName = "confapplet/pkg/yuntongxun"

// startSpan starts cmd's span; nil when ctx's span is not recorded.
func startSpan(ctx context.Context, cmd string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, "yuntongxun "+cmd,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("confapplet.platform.command", cmd)))
}

// endSpan records the outcome of the command and ends sp.
func endSpan(sp trace.Span, err error) {
	var (
		se *StatusError
		te *TransportError
	)
	switch {
	case err == nil:
		sp.SetAttributes(attribute.Int("http.response.status_code", 200), attribute.String("confapplet.platform.status_code", StatusOK))
	case errors.As(err, &se):
		sp.SetAttributes(attribute.Int("http.response.status_code", 200), attribute.String("confapplet.platform.status_code", se.StatusCode))
		sp.SetStatus(codes.Error, "statusCode "+se.StatusCode)
	case errors.As(err, &te) && te.HTTPStatus != 0:
		sp.SetAttributes(attribute.Int("http.response.status_code", te.HTTPStatus))
		sp.SetStatus(codes.Error, "HTTP error")
	default:
		sp.SetStatus(codes.Error, "no answer")
	}
	sp.End()
}
