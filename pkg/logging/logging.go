// Package logging builds the zerolog logger every service uses, so field
// names and formats are the same everywhere.
package logging

import (
	"io"
	"time"

	"confapplet/pkg/pii"

	"github.com/rs/zerolog"
)

// Field names used by every service, so that one query finds a
// conference, call, client, request or method in the logs of all of them.
const (
	ConfID   = "conf_id"
	CallID   = "call_id"
	ClientID = "client_id"
	ReqID    = "req_id"
	Method   = "method"
	Subject  = "subject"
	// The trace and span of the operation a line was written in, when
	// tracing is on (pkg/tracing).
	TraceID = "trace_id"
	SpanID  = "span_id"
)

// zerolog's time format is a package global; setting it once here, rather
// than in New, keeps services that share a process (the local stack) from
// racing on it.
func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

// New returns a JSON logger writing to w at level ("debug", "info", "warn",
// "error"; "" means info), with a "service" field. Phone numbers in its
// lines are masked (pii.Writer) unless FullNumbers(true) is given; then the
// logger's first line is a warning saying so.
func New(w io.Writer, level, service string, opts ...Option) zerolog.Logger {
	var o options
	for _, f := range opts {
		f(&o)
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	if !o.fullNumbers {
		w = pii.Writer(w)
	}
	log := zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger()
	if o.fullNumbers {
		log.Warn().Msg("full phone numbers are logged (log-full-numbers is on): personal data in the logs; turn it off after debugging")
	}
	return log
}
