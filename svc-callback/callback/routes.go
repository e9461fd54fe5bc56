package callback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"confapplet/pkg/logging"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"

	"github.com/rs/zerolog"
)

// ProbeAnswer is the body of GET /yt/<secret>/ (the notification address).
const ProbeAnswer = "confapplet svc-callback: notification address ok\n"

// rawLogLimit bounds the raw body quoted in a "bad callback" log line.
const rawLogLimit = 1024

// routes is the whole HTTP surface of svc-callback:
//
//	POST /yt/{secret}/…/{kind}  a platform callback; kind ∈ contract.CallbackKinds (address.go)
//	GET  /yt/{secret}/          the readiness check's probe
//	GET  /healthz               the process is up
//	GET  /readyz                NATS connected, the events and raw streams reachable
//
// /metrics is on the ops listener only (OpsHandler). /yt/ is dispatched
// before the mux: the mux would answer a path with "//" (how some joining
// rules build the callback address) with a redirect, which a platform that
// does not follow redirects would lose.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.ops().Probes(mux)
	cb := s.handleCallback()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/yt/") {
			cb.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// OpsHandler serves /healthz, /readyz and /metrics (the ops listener).
func (s *Server) OpsHandler() http.Handler { return s.ops().Handler() }

func (s *Server) ops() svc.Ops {
	return svc.Ops{Ready: s.ready, Registry: s.metrics.reg}
}

// ready: without the events stream no event is stored, without the raw
// stream no callback is kept; either way, without a spool, every callback
// gets 503. With a spool that has room the instance stays ready: it takes
// callbacks and stores them later, where a load balancer that took it out
// of rotation would answer the platform 503 itself.
// The spool's answer comes first and at once: a load balancer's check
// times out long before an unreachable NATS node does (HAProxy's after 2 s).
func (s *Server) ready(ctx context.Context) error {
	if s.spool != nil && s.spool.room() >= s.cfg.MaxBody {
		return nil
	}
	err := s.pub.reachable(ctx)
	if err == nil {
		err = s.raw.reachable(ctx)
	}
	return err
}

// handleCallback serves /yt/{secret}/…/{kind}. Order of checks: source
// address (403), secret (404, the same answer as any unknown path), method
// (405; GET and POST are taken), body size (413), keep the raw callback,
// parse (not understood: marked, counted, logged and answered 200), store
// the event, then 200 with replyFor's answer; a store that does not answer
// sends the callback to the spool (200) or, without one, answers 503. With
// the right secret, a path naming no kind is kept like any other
// (otherKind).
func (s *Server) handleCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request's logger (remote, kind, conf_id, call_id) is built only
		// when a line is written: on the hot path, at the usual levels,
		// nothing is.
		var kind string
		var got intook // what intake did: the event and its span, for the log lines
		log := func() *zerolog.Logger {
			c := s.log.With().Str("remote", hostOnly(r.RemoteAddr))
			if kind != "" {
				c = c.Str("kind", kind)
			}
			if got.ev != nil {
				c = c.Str(logging.ConfID, got.ev.ConfID).Str(logging.CallID, got.ev.CallID)
			}
			l := tracing.WithSpan(got.span, c).Logger()
			return &l
		}
		if !s.sourceOK(r) {
			s.count(kindUnknown, outcomeDenied)
			log().Warn().Msg("callback from a source outside the allow-list")
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return
		}
		secret, k, ok := callbackPath(r.URL.Path)
		secretOK := s.secretOK(secret)
		if secretOK && probe(w, r, secret) {
			return
		}
		if !secretOK {
			s.count(kindUnknown, outcomeNotFound)
			log().Warn().Bool("secret_ok", secretOK).Str("kind", truncate([]byte(k), 32)).Msg("callback on an unknown path")
			http.NotFound(w, r)
			return
		}
		kind = k
		if !ok {
			// The right secret on a path we do not route (a notification
			// we did not expect: dtmfreport, alarmclock, …): kept like
			// any other, and re-processable once a route knows it.
			kind = otherKind
		}
		if r.Method != http.MethodPost && r.Method != http.MethodGet {
			s.count(kind, outcomeBadMethod)
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		received := s.now()
		body, ok := s.readBody(w, r, kind, log)
		if !ok {
			return
		}
		in := newInbound(r, kind, pathAfterSecret(r.URL.Path, secret), body, received)
		// Behind what is spooled already, so a conference's events keep
		// their order (spool.go); a full spool lets it try the store.
		if s.spool != nil && !s.spool.empty() && s.toSpool(w, in, log, nil) {
			return
		}
		// The platform hanging up must not abandon a store half-way; the
		// work is bounded by PublishTimeout instead.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.PublishTimeout)
		defer cancel()
		got, err := s.intake(ctx, in)
		switch {
		case err != nil && s.spool != nil:
			s.toSpool(w, in, log, err)
		case err != nil:
			s.unavailable(w, kind, log, err, "callback not stored")
		case got.unparsed != nil:
			s.notUnderstood(w, in, got, log)
		default:
			s.stored(w, r, kind, got, log)
		}
	})
}

// probe answers a GET of the notification address itself: the readiness
// check's probe (svc-conference readiness). It proves the public address
// reaches this service with the right secret, and stores nothing.
func probe(w http.ResponseWriter, r *http.Request, secret string) bool {
	if r.Method != http.MethodGet || strings.Trim(pathAfterSecret(r.URL.Path, secret), "/") != "" {
		return false
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, ProbeAnswer)
	return true
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
		log().Warn().Int64("limit", s.cfg.MaxBody).Str("raw", maskNumbers(truncate(body, rawLogLimit))).Msg("callback body too large")
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	s.count(kind, outcomeBadRequest)
	log().Warn().Err(err).Msg("callback body unreadable")
	http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
	return nil, false
}

// notUnderstood answers a callback kept but not understood (marked for
// `svc-callback reprocess`, which turns it into its event once the parser
// understands it) like any other, so the platform does not give up on us.
func (s *Server) notUnderstood(w http.ResponseWriter, in *inbound, got intook, log func() *zerolog.Logger) {
	s.count(in.Kind, outcomeUnparsed)
	// The reason may quote a field (a number): masked too.
	log().Warn().Str("error", maskNumbers(got.unparsed.Error())).Uint64("raw_seq", got.rawSeq).Str("method", in.Method).
		Str("content_type", in.Header.Get("Content-Type")).
		Str("query", maskNumbers(in.Query)).
		Str("raw", maskNumbers(truncate(in.Body, rawLogLimit))).
		Msg("callback not understood; kept for svc-callback reprocess")
	w.Header()["Content-Type"] = ackContentType
	// A status push carries no conference id, so it is never an event;
	// its fields, when they could be read, still ask for its Ack.
	_, _ = io.WriteString(w, replyFor(got.f))
}

// stored answers replyFor(f) once JetStream has the event (or had it
// already).
func (s *Server) stored(w http.ResponseWriter, r *http.Request, kind string, got intook, log func() *zerolog.Logger) {
	ev, res := got.ev, got.res
	if res.Duplicate {
		s.count(kind, outcomeDuplicate)
		s.metrics.duplicates.WithLabelValues(kind).Inc()
	} else {
		s.count(kind, outcomePublished)
	}
	// The same fields as log() gives, without building a logger.
	tracing.TagSpan(got.span, s.log.Info()).Str("remote", hostOnly(r.RemoteAddr)).Str("kind", kind).
		Str(logging.ConfID, ev.ConfID).Str(logging.CallID, ev.CallID).
		Uint64("seq", res.Seq).Uint64("stream_seq", res.StreamSeq).Bool("duplicate", res.Duplicate).
		Int("attempts", res.Attempts).Str("event_time", ev.Time).Msg("callback stored")
	w.Header()["Content-Type"] = ackContentType
	_, _ = io.WriteString(w, replyFor(got.f))
}

// unavailable answers 503: the platform retries what we could not keep or
// store.
func (s *Server) unavailable(w http.ResponseWriter, kind string, log func() *zerolog.Logger, err error, what string) {
	s.count(kind, outcomeUnavailable)
	log().Error().Err(err).Msg(what + "; answering 503 so the platform retries")
	w.Header().Set("Retry-After", "1")
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

// pathAfterSecret is what follows the secret in a callback path (the
// secret itself is never stored).
func pathAfterSecret(path, secret string) string {
	rest := strings.TrimLeft(strings.TrimPrefix(path, "/yt/"), "/")
	return strings.TrimPrefix(rest, secret)
}

// ackContentType is the Content-Type of the 200 answer (shared, never
// modified: set without Header().Set's canonicalising and allocating).
var ackContentType = []string{"application/xml; charset=utf-8"}

func (s *Server) count(kind, outcome string) {
	s.metrics.callbacks.WithLabelValues(kind, outcome).Inc()
}
