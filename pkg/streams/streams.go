// Package streams declares the JetStream stream that carries conference
// events, so every service that creates it creates the same thing.
package streams

import (
	"context"
	"fmt"
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
	}
}

// EnsureEvents creates or updates the events stream.
func EnsureEvents(ctx context.Context, js jetstream.JetStream, cfg EventsConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, eventsStreamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", contract.EventsStream, err)
	}
	return s, nil
}
