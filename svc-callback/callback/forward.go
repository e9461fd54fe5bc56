package callback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"confapplet/pkg/logging"

	"github.com/rs/zerolog"
)

// Waits between attempts to store a spooled callback while the store does
// not answer: short at first (a leader election takes a few seconds),
// never long once it is back.
const (
	forwardMinWait = 100 * time.Millisecond
	forwardMaxWait = 2 * time.Second
)

// toSpool keeps in in the spool and answers the platform as if it were
// stored; the forwarder stores it. cause is why it was not stored at once;
// nil: it queues behind what the spool holds, and when the spool cannot
// take it toSpool answers nothing and returns false (the caller tries the
// store). Otherwise a spool that cannot take it means 503: the platform's
// retry is then the only chance left.
func (s *Server) toSpool(w http.ResponseWriter, in *inbound, log func() *zerolog.Logger, cause error) bool {
	if err := s.spool.add(*in); err != nil {
		if cause == nil {
			return false
		}
		s.unavailable(w, in.Kind, log, errors.Join(cause, err), "callback neither stored nor spooled")
		return true
	}
	s.count(in.Kind, outcomeSpooled)
	if cause != nil {
		log().Warn().Err(cause).Int64("spooled", s.spool.pending.Load()).Msg("event store unavailable; callback spooled, stored once it answers")
	} else {
		// One line per callback, as "callback stored" is.
		log().Info().Int64("spooled", s.spool.pending.Load()).Msg("callback spooled behind earlier ones")
	}
	// The answer depends only on the body (replyFor); a body not
	// understood is answered like one that is, as notUnderstood does.
	_, f, _ := s.parse(in.Kind, in.Query, in.Header.Get("Content-Type"), in.Body, in.Received)
	w.Header()["Content-Type"] = ackContentType
	_, _ = io.WriteString(w, replyFor(f))
	return true
}

// Forward stores the spooled callbacks, oldest first, each as if it had
// just arrived (intake), until ctx ends; without a spool it returns at
// once. Run runs it; an in-process user of New runs it in a goroutine.
func (s *Server) Forward(ctx context.Context) {
	if s.spool == nil {
		return
	}
	wait := forwardMinWait
	failing := false
	for {
		in, forwarded, ok, err := s.spool.next()
		if err != nil {
			// Only a disk fault gets here: openSpool checked every
			// record, and this process wrote the rest.
			s.log.Error().Err(err).Msg("spool unreadable; retrying")
			ok = false
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.spool.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		actx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
		got, err := s.intake(actx, &in)
		cancel()
		if err != nil {
			if !failing {
				s.log.Warn().Err(err).Int64("spooled", s.spool.pending.Load()).Msg("spooled callbacks wait for the event store")
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, forwardMaxWait)
			continue
		}
		forwarded()
		wait = forwardMinWait
		s.metrics.forwarded.Inc()
		if failing {
			s.log.Info().Int64("spooled", s.spool.pending.Load()).Msg("event store answers again; forwarding spooled callbacks")
			failing = false
		}
		if got.ev != nil {
			s.log.Debug().Str(logging.ConfID, got.ev.ConfID).Str(logging.CallID, got.ev.CallID).
				Uint64("seq", got.res.Seq).Bool("duplicate", got.res.Duplicate).Msg("spooled callback stored")
		}
	}
}

// Close releases the spool (its slot's lock); the callbacks it still
// holds are forwarded by the next process that takes the slot.
func (s *Server) Close() {
	if s.spool != nil {
		s.spool.close()
	}
}
