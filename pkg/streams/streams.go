// Package streams declares the JetStream stream that carries conference
// events, so every service that creates it creates the same thing.
package streams

import (
	"context"
	"fmt"
	"strings"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// EventsConfig tunes the events stream.
type EventsConfig struct {
	Replicas int           // 1 on a single server, 3 in a cluster
	MaxAge   time.Duration // how long events stay replayable; 0 = 7 days
	// Duplicates is the window in which a repeated Nats-Msg-Id (a platform
	// retry) is stored only once; 0 = 10 minutes.
	Duplicates time.Duration
}

// eventsStreamConfig is the stream configuration for cfg.
func eventsStreamConfig(cfg EventsConfig) jetstream.StreamConfig {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	if cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge
	}
	return jetstream.StreamConfig{
		Name:        contract.EventsStream,
		Description: "confapplet conference events, one subject per conference",
		Subjects:    []string{contract.EventsWildcard},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
		// Direct gets let every replica answer "last message on subject",
		// which svc-callback does once per callback to assign sequences.
		AllowDirect: true,
		Discard:     jetstream.DiscardOld,
		// The stream leader republishes every event it stored, with its
		// stream sequence (Nats-Sequence) and the previous one of the same
		// conference (Nats-Last-Sequence): the edges fan these out as they
		// come, without reading them back, and only what the stream
		// accepted is republished (never a refused or de-duplicated
		// publish).
		RePublish: &jetstream.RePublish{Source: contract.EventsWildcard, Destination: LiveWildcard},
	}
}

// LiveWildcard is where the events stream republishes what it stored:
// "confapplet.stored.<confid>", outside the stream's own subjects.
const LiveWildcard = "confapplet.stored.{{wildcard(1)}}"

// livePrefix starts every LiveSubject.
const livePrefix = "confapplet.stored."

// LiveSubject is the subject on which the stored events of confID are
// republished.
func LiveSubject(confID string) string { return livePrefix + confID }

// ConfIDFromLiveSubject is the conference of a LiveSubject, "" if subj is
// not one.
func ConfIDFromLiveSubject(subj string) string {
	id, ok := strings.CutPrefix(subj, livePrefix)
	if !ok || id == "" || strings.Contains(id, ".") {
		return ""
	}
	return id
}

// Headers the stream sets on each republished event.
const (
	// HeaderStreamSeq is the event's stream sequence.
	HeaderStreamSeq = "Nats-Sequence"
	// HeaderPrevStreamSeq is the stream sequence of the conference's event
	// before it (0 for its first): when it is not the last one a reader
	// took, republished events were missed (a leader change, a reconnect)
	// and the reader reads the stream from where it is.
	HeaderPrevStreamSeq = "Nats-Last-Sequence"
	// HeaderStoredAt is when the stream stored it (RFC 3339, UTC).
	HeaderStoredAt = "Nats-Time-Stamp"
)

// EnsureEvents creates or updates the events stream.
func EnsureEvents(ctx context.Context, js jetstream.JetStream, cfg EventsConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, eventsStreamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", contract.EventsStream, err)
	}
	return s, nil
}
