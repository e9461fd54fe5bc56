package callback

import (
	"context"

	"confapplet/pkg/contract"
	"confapplet/pkg/eventlog"

	"github.com/nats-io/nats.go/jetstream"
)

// Headers svc-callback sets on every stored event, beside Nats-Msg-Id
// (the event log's own: pkg/eventlog).
const (
	// HeaderEventKey is the event's identity key (identity.Key).
	HeaderEventKey = eventlog.HeaderKey
	// HeaderEventSeq is the event's per-conference sequence (Event.Seq).
	HeaderEventSeq = eventlog.HeaderSeq
)

// errUnavailable wraps every failure to store an event (→ 503).
var errUnavailable = eventlog.ErrUnavailable

// publisher stores events in the events stream with dense per-conference
// sequences: pkg/eventlog's Log, with svc-callback's identities. See
// "Sequences and duplicates" in CONFIG.md.
type publisher struct {
	*eventlog.Log
}

// published is what happened to one event.
type published = eventlog.Appended

// publish stores ev on its conference's subject and returns once JetStream
// has acknowledged it (or recognised it as a duplicate).
func (p *publisher) publish(ctx context.Context, ev *contract.Event, id identity) (published, error) {
	return p.Append(ctx, ev, eventlog.Identity{Key: id.Key, MsgID: id.msgID})
}

// ensure returns the events stream, creating or updating it once.
func (p *publisher) ensure(ctx context.Context) (jetstream.Stream, error) { return p.Ensure(ctx) }

// reachable reports whether the stream answers (for /readyz).
func (p *publisher) reachable(ctx context.Context) error { return p.Reachable(ctx) }
