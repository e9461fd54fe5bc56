package callback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/svc"

	"github.com/rs/zerolog"
)

// Ack is the answer to every stored callback: the acknowledgement the
// platform documents for its status pushes (with a lowercase
// "statuscode"). It is a <Response> document, so an IVR interpreter reads it
// as a command document with nothing to do, like the empty command
// <Response></Response>, which no document of the platform confirms. Our conferences
// are driven by REST, so no callback needs an IVR command in its answer.
const Ack = `<?xml version="1.0" encoding="UTF-8"?><Response><statuscode>000000</statuscode></Response>`

// rawLogLimit bounds the raw body quoted in a "bad callback" log line.
const rawLogLimit = 1024

// routes is the whole HTTP surface of svc-callback:
//
//	POST /yt/{secret}/{kind}   a platform callback; kind ∈ contract.CallbackKinds
//	GET  /healthz              the process is up
//	GET  /readyz               NATS connected and the events stream reachable
//
// /metrics is on the ops listener only (OpsHandler).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/yt/", s.handleCallback())
	s.ops().Probes(mux)
	return mux
}

// OpsHandler serves /healthz, /readyz and /metrics (the ops listener).
func (s *Server) OpsHandler() http.Handler { return s.ops().Handler() }

func (s *Server) ops() svc.Ops {
	return svc.Ops{Ready: s.pub.reachable, Registry: s.metrics.reg}
}

// handleCallback serves /yt/{secret}/{kind}. Order of checks: source
// address (403), secret and kind (404, the same answer as any unknown
// path), method (405), body size (413), body (400), store (503), then 200
// with Ack.
func (s *Server) handleCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request's logger (remote, kind, conf_id, call_id) is built only
		// when a line is written: on the hot path, at the usual levels,
		// nothing is.
		var kind string
		var ev *contract.Event
		log := func() *zerolog.Logger {
			c := s.log.With().Str("remote", hostOnly(r.RemoteAddr))
			if kind != "" {
				c = c.Str("kind", kind)
			}
			if ev != nil {
				c = c.Str(logging.ConfID, ev.ConfID).Str(logging.CallID, ev.CallID)
			}
			l := c.Logger()
			return &l
		}
		if !s.sourceOK(r) {
			s.count(kindUnknown, outcomeDenied)
			log().Warn().Msg("callback from a source outside the allow-list")
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return
		}
		secret, k, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/yt/"), "/")
		secretOK := s.secretOK(secret)
		if !ok || !secretOK || !slices.Contains(contract.CallbackKinds, k) {
			s.count(kindUnknown, outcomeNotFound)
			log().Warn().Bool("secret_ok", secretOK).Str("kind", truncate([]byte(k), 32)).Msg("callback on an unknown path")
			http.NotFound(w, r)
			return
		}
		kind = k
		if r.Method != http.MethodPost {
			s.count(kind, outcomeBadMethod)
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		received := s.now()
		body, ok := s.readBody(w, r, kind, log)
		if !ok {
			return
		}
		f, err := parseBody(body)
		if err == nil {
			ev, err = buildEvent(kind, f, s.loc, received)
		}
		if err != nil {
			ev = nil
			s.count(kind, outcomeBadRequest)
			log().Warn().Err(err).Str("content_type", r.Header.Get("Content-Type")).
				Str("raw", truncate(body, rawLogLimit)).Msg("callback not understood; not published")
			http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
			return
		}
		s.store(w, r, kind, ev, log)
	})
}

// readBody reads the callback's body within Config.MaxBody; when it
// cannot, it answers (413 or 400) and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, kind string, log func() *zerolog.Logger) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.count(kind, outcomeTooLarge)
		log().Warn().Int64("limit", s.cfg.MaxBody).Str("raw", truncate(body, rawLogLimit)).Msg("callback body too large")
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	s.count(kind, outcomeBadRequest)
	log().Warn().Err(err).Msg("callback body unreadable")
	http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
	return nil, false
}

// store publishes ev and answers: Ack once JetStream has it (or had it
// already), 503 with Retry-After otherwise, so the platform retries.
func (s *Server) store(w http.ResponseWriter, r *http.Request, kind string, ev *contract.Event, log func() *zerolog.Logger) {
	// The platform hanging up must not abandon a publish half-way; the
	// work is bounded by PublishTimeout instead.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.pub.publish(ctx, ev, identify(ev))
	s.metrics.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.count(kind, outcomeUnavailable)
		log().Error().Err(err).Msg("callback not stored; answering 503 so the platform retries")
		w.Header().Set("Retry-After", "1")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	if res.Duplicate {
		s.count(kind, outcomeDuplicate)
		s.metrics.duplicates.WithLabelValues(kind).Inc()
	} else {
		s.count(kind, outcomePublished)
	}
	// The same fields as log() gives, without building a logger.
	s.log.Info().Str("remote", hostOnly(r.RemoteAddr)).Str("kind", kind).
		Str(logging.ConfID, ev.ConfID).Str(logging.CallID, ev.CallID).
		Uint64("seq", res.Seq).Uint64("stream_seq", res.StreamSeq).Bool("duplicate", res.Duplicate).
		Int("attempts", res.Attempts).Str("event_time", ev.Time).Msg("callback stored")
	w.Header()["Content-Type"] = ackContentType
	_, _ = io.WriteString(w, Ack)
}

// ackContentType is the Content-Type of the 200 answer (shared, never
// modified: set without Header().Set's canonicalising and allocating).
var ackContentType = []string{"application/xml; charset=utf-8"}

func (s *Server) count(kind, outcome string) {
	s.metrics.callbacks.WithLabelValues(kind, outcome).Inc()
}
