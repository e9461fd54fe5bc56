package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"confapplet/svc-callback/callback"

	"github.com/nats-io/nats.go/jetstream"
)

// raw deletes, from svc-callback's archive of callbacks as received
// (callback.RawStream), every callback whose body, query or headers hold
// the number, or name the conference, and the not-understood markers that
// point at a deleted one or quote the target in their reason. Secure
// delete, as for the events.
func (e *eraser) raw(ctx context.Context, t target, rep *report) error {
	st, err := e.js.Stream(ctx, callback.RawStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", callback.RawStream, err)
	}
	needle := t.number
	if t.conf != "" {
		needle = t.conf
	}
	deleted := map[uint64]bool{}
	found, err := scan(ctx, st, ">", func(m jetstream.Msg, seq uint64) (stored, bool) {
		s := stored{subject: m.Subject(), header: m.Headers()}
		if holds(m, needle) {
			deleted[seq] = true
			return s, true
		}
		// A marker of a callback deleted above (markers follow their raw
		// message in the stream).
		of, err := strconv.ParseUint(m.Headers().Get(callback.HeaderRawSeq), 10, 64)
		return s, err == nil && deleted[of]
	})
	if err != nil {
		return err
	}
	for _, m := range found {
		rep.raw++
		if e.dryRun {
			continue
		}
		if err := st.SecureDeleteMsg(ctx, m.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("delete raw callback %d: %w", m.seq, err)
		}
	}
	return nil
}

// holds reports whether m's body or one of its headers holds needle.
func holds(m jetstream.Msg, needle string) bool {
	if containsNumber(m.Data(), needle) {
		return true
	}
	for _, vs := range m.Headers() {
		for _, v := range vs {
			if containsNumber([]byte(v), needle) {
				return true
			}
		}
	}
	return false
}
