package callback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Every callback that reaches svc-callback with the right secret is kept,
// byte for byte, in the RawStream before it is parsed: subject
// callback.raw.<kind>, the body as data, the request line, arrival time and
// HTTP headers as message headers. One that cannot be parsed also gets a
// marker on callback.unparsed.<kind> naming the raw message; `svc-callback
// reprocess` (Server.Reprocess) parses the marked ones again with the
// current parser, publishes their events and removes the markers of those
// it understood. So a parser bug found after first contact loses nothing.
const (
	RawStream             = "CALLBACK_RAW"
	rawSubjectPrefix      = "callback.raw."
	unparsedSubjectPrefix = "callback.unparsed."
)

// Headers of a raw message (the request's own headers follow as
// "Http-<Name>").
const (
	HeaderRawMethod   = "Callback-Method"
	HeaderRawPath     = "Callback-Path" // the path after the secret (the secret is never stored)
	HeaderRawQuery    = "Callback-Query"
	HeaderRawRemote   = "Callback-Remote"
	HeaderRawReceived = "Callback-Received" // RFC 3339 with nanoseconds, UTC
	HeaderRawSeq      = "Callback-Raw-Seq"  // on a marker: the raw message's stream sequence
	HeaderRawError    = "Callback-Error"    // on a marker: why it was not understood
	rawHTTPPrefix     = "Http-"
)

// RawConfig tunes the raw stream.
type RawConfig struct {
	Replicas   int
	MaxAge     time.Duration
	MaxBytes   int64 // -1: no bound
	Duplicates time.Duration
}

// rawStreamConfig is the raw stream's configuration.
func rawStreamConfig(c RawConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        RawStream,
		Description: "svc-callback: every authenticated callback as received, and markers of those not understood",
		Subjects:    []string{rawSubjectPrefix + "*", unparsedSubjectPrefix + "*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Duplicates:  min(c.Duplicates, c.MaxAge),
		Replicas:    c.Replicas,
		Discard:     jetstream.DiscardOld,
	}
}

// rawStore writes the raw stream.
type rawStore struct {
	js  jetstream.JetStream
	cfg RawConfig

	mu     sync.Mutex
	stream jetstream.Stream
}

func (rs *rawStore) ensure(ctx context.Context) (jetstream.Stream, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stream != nil {
		return rs.stream, nil
	}
	s, err := rs.js.CreateOrUpdateStream(ctx, rawStreamConfig(rs.cfg))
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", RawStream, err)
	}
	rs.stream = s
	return s, nil
}

func (rs *rawStore) forget() {
	rs.mu.Lock()
	rs.stream = nil
	rs.mu.Unlock()
}

// reachable reports whether the raw stream answers (for /readyz): without
// it every callback is answered 503.
func (rs *rawStore) reachable(ctx context.Context) error {
	s, err := rs.ensure(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Info(ctx); err != nil {
		rs.forget()
		return fmt.Errorf("stream %s: %w", RawStream, err)
	}
	return nil
}

// keep stores one callback as received and returns its stream sequence. A
// platform retry of the same request (same kind, method, query and body)
// within the duplicate window is stored once and gets the first copy's
// sequence; so is a spooled callback forwarded twice.
func (rs *rawStore) keep(ctx context.Context, in *inbound) (uint64, error) {
	if _, err := rs.ensure(ctx); err != nil {
		return 0, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	msg := nats.NewMsg(rawSubjectPrefix + in.Kind)
	msg.Data = in.Body
	for k, vs := range in.Header {
		msg.Header[rawHTTPPrefix+k] = vs
	}
	msg.Header.Set(HeaderRawMethod, in.Method)
	msg.Header.Set(HeaderRawPath, in.PathRest)
	if in.Query != "" {
		msg.Header.Set(HeaderRawQuery, in.Query)
	}
	msg.Header.Set(HeaderRawRemote, in.Remote)
	msg.Header.Set(HeaderRawReceived, in.Received.UTC().Format(time.RFC3339Nano))
	sum := sha256.Sum256([]byte(in.Kind + "\x00" + in.Method + "\x00" + in.Query + "\x00" + string(in.Body)))
	ack, err := rs.js.PublishMsg(ctx, msg, jetstream.WithMsgID("raw-"+hex.EncodeToString(sum[:])),
		jetstream.WithExpectStream(RawStream))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			rs.forget()
		}
		return 0, fmt.Errorf("%w: raw callback: %v", errUnavailable, err)
	}
	return ack.Sequence, nil
}

// markUnparsed records that the raw message rawSeq was not understood.
func (rs *rawStore) markUnparsed(ctx context.Context, kind string, rawSeq uint64, reason error) error {
	msg := nats.NewMsg(unparsedSubjectPrefix + kind)
	msg.Header.Set(HeaderRawSeq, strconv.FormatUint(rawSeq, 10))
	msg.Header.Set(HeaderRawError, truncate([]byte(reason.Error()), 512))
	_, err := rs.js.PublishMsg(ctx, msg, jetstream.WithMsgID("unparsed-"+strconv.FormatUint(rawSeq, 10)),
		jetstream.WithExpectStream(RawStream))
	if err != nil {
		return fmt.Errorf("%w: unparsed marker: %v", errUnavailable, err)
	}
	return nil
}

// rawCallback is a raw message read back for re-processing.
type rawCallback struct {
	kind        string
	query       string
	contentType string
	body        []byte
	received    time.Time
}

func readRaw(m *jetstream.RawStreamMsg) (rawCallback, error) {
	kind, ok := strings.CutPrefix(m.Subject, rawSubjectPrefix)
	if !ok {
		return rawCallback{}, fmt.Errorf("raw message %d on %s", m.Sequence, m.Subject)
	}
	received, err := time.Parse(time.RFC3339Nano, m.Header.Get(HeaderRawReceived))
	if err != nil {
		received = m.Time
	}
	return rawCallback{
		kind:        resolveKind(kind, m.Header.Get(HeaderRawPath)),
		query:       m.Header.Get(HeaderRawQuery),
		contentType: m.Header.Get(rawHTTPPrefix + "Content-Type"),
		body:        m.Data,
		received:    received,
	}, nil
}

// ReprocessResult counts what Reprocess did.
type ReprocessResult struct {
	Published int // understood now; events stored (or recognised as stored)
	Unparsed  int // still not understood; their markers stay
	Gone      int // markers whose raw message has aged out (removed)
	DryRun    bool
	Failures  []string // "raw seq N (kind): reason" of those still not understood
}

// Reprocess parses every callback marked as not understood again, with
// this process's parser, publishes the events of those it understands now
// (with their original arrival time; svc-callback's de-duplication makes a
// repeat harmless) and removes their markers. With dryRun nothing is
// published or removed. It is what `svc-callback reprocess` runs.
func (s *Server) Reprocess(ctx context.Context, dryRun bool) (ReprocessResult, error) {
	res := ReprocessResult{DryRun: dryRun}
	stream, err := s.raw.ensure(ctx)
	if err != nil {
		return res, err
	}
	for seq := uint64(1); ; {
		marker, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(unparsedSubjectPrefix+"*"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read markers from %d: %w", seq, err)
		}
		seq = marker.Sequence + 1
		rawSeq, err := strconv.ParseUint(marker.Header.Get(HeaderRawSeq), 10, 64)
		if err != nil {
			return res, fmt.Errorf("marker %d: bad %s: %w", marker.Sequence, HeaderRawSeq, err)
		}
		m, err := stream.GetMsg(ctx, rawSeq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			res.Gone++
			if !dryRun {
				if err := stream.DeleteMsg(ctx, marker.Sequence); err != nil {
					return res, fmt.Errorf("remove marker %d: %w", marker.Sequence, err)
				}
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("raw message %d: %w", rawSeq, err)
		}
		rc, err := readRaw(m)
		if err != nil {
			return res, err
		}
		ev, _, perr := s.parse(rc.kind, rc.query, rc.contentType, rc.body, rc.received)
		if perr != nil {
			res.Unparsed++
			res.Failures = append(res.Failures, fmt.Sprintf("raw seq %d (%s): %v", rawSeq, rc.kind, perr))
			continue
		}
		if dryRun {
			res.Published++
			continue
		}
		if _, err := s.pub.publish(ctx, ev, identify(ev)); err != nil {
			return res, fmt.Errorf("raw seq %d: %w", rawSeq, err)
		}
		if err := stream.DeleteMsg(ctx, marker.Sequence); err != nil {
			return res, fmt.Errorf("remove marker %d: %w", marker.Sequence, err)
		}
		res.Published++
	}
}
