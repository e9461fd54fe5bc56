package conference

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"
)

// handlerFunc executes one method. Its result is JSON-encoded as the reply
// body (a json.RawMessage passes through).
type handlerFunc func(c *call) (any, *contract.Error)

// call is one request being served.
type call struct {
	ctx      context.Context
	method   string
	clientID string
	operator bool
	grants   string // confids the caller may read without owning them (contract.HeaderWatch)
	source   string // the caller's address (contract.HeaderSource); "" = unknown
	reqID    string
	confID   string // set by withConf
	data     []byte
	log      zerolog.Logger
}

// endpoint adapts h to micro: the micro handler only takes a worker slot
// (waiting at most until the caller's deadline) and hands the request to
// a goroutine, so a slow platform call never holds up the endpoint.
func (s *Service) endpoint(spec contract.Method, h handlerFunc) micro.Handler {
	method := spec.Name
	st := s.stats[method]
	// Reads of the state have their own pool: a connect storm of browsers
	// (ListOwned, AuthorizeWatch) is not queued behind slow platform calls,
	// nor the other way round.
	pool := s.platformPool
	if spec.Work == contract.ReadsState {
		pool = s.readPool
	}
	var inline func(micro.Request) bool // nil: none
	if spec.Inline {
		inline = s.fastRead(method)
	}
	return micro.HandlerFunc(func(req micro.Request) {
		if inline != nil && inline(req) {
			return // answered from the view (fastread.go)
		}
		start := time.Now()
		deadline := start.Add(s.cfg.methodTimeout(method))
		if v := req.Headers().Get(contract.HeaderDeadline); v != "" {
			// The caller's deadline, capped: a request never holds a worker
			// longer than a minute.
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				deadline = time.UnixMilli(ms)
				if limit := start.Add(time.Minute); deadline.After(limit) {
					deadline = limit
				}
			}
		}
		ctx, cancel := context.WithDeadline(s.base, deadline)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			cancel()
			s.replyError(req, method, st, contract.Errorf(contract.CodeUnavailable, "service instance is stopping"))
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		select {
		case pool <- struct{}{}:
		case <-ctx.Done():
			cancel()
			s.wg.Done()
			// The caller has given up; answer anyway for the record.
			s.replyError(req, method, st, contract.Errorf(contract.CodeTimeout, "deadline passed while queued"))
			return
		}
		st.inflight.Add(1)
		s.met.inflight.Inc()
		go func() {
			defer s.wg.Done()
			defer func() { <-pool; st.inflight.Add(-1); s.met.inflight.Dec() }()
			defer cancel()
			s.serve(ctx, method, st, req, h, start)
		}()
	})
}

func (s *Service) serve(ctx context.Context, method string, st *endpointStats, req micro.Request, h handlerFunc, start time.Time) {
	hd := req.Headers()
	c := &call{ctx: ctx, method: method, clientID: hd.Get(contract.HeaderClientID), reqID: hd.Get(contract.HeaderReqID), data: req.Data()}
	c.ctx = s.cfg.Tracer.Serve(ctx, hd, "conference", method, c.clientID, c.reqID)
	c.log = tracing.With(c.ctx, s.log.With()).Str(logging.Method, method).Str(logging.ClientID, c.clientID).Str(logging.ReqID, c.reqID).Logger()
	if tok := hd.Get(contract.HeaderOperator); tok != "" {
		c.operator = s.isOperator(tok)
		if !c.operator {
			c.log.Warn().Msg("wrong operator token")
		}
	}
	// Set by the edge from a verified connection token (pkg/token).
	if hd.Get(contract.HeaderRole) == contract.RoleOperator {
		c.operator = true
	}
	c.grants = hd.Get(contract.HeaderWatch)
	c.source = hd.Get(contract.HeaderSource)
	var (
		res  any
		cerr *contract.Error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error().Interface("panic", r).Msg("handler panicked")
				cerr = contract.Errorf(contract.CodeInternal, "internal error")
			}
		}()
		switch {
		case c.clientID == "":
			cerr = contract.Errorf(contract.CodeInvalidRequest, "header %s is required", contract.HeaderClientID)
		case !contract.ValidClientID(c.clientID):
			cerr = contract.Errorf(contract.CodeInvalidRequest, "header %s: bad client id", contract.HeaderClientID)
		case ctx.Err() != nil:
			cerr = contract.Errorf(contract.CodeTimeout, "deadline passed before the request started")
		default:
			res, cerr = h(c)
		}
	}()
	s.met.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	var code string
	if cerr != nil {
		code = string(cerr.Code)
	}
	defer tracing.End(c.ctx, code) // after the reply is sent
	if cerr != nil {
		ev := c.log.Info()
		if cerr.Code == contract.CodeInternal {
			ev = c.log.Error()
		}
		ev.Str("code", string(cerr.Code)).Str("error", cerr.Message).Dur("took", time.Since(start)).Msg("request refused")
		s.replyError(req, method, st, cerr)
		return
	}
	var body []byte
	if raw, ok := res.(json.RawMessage); ok {
		body = raw
	} else {
		var err error
		if body, err = json.Marshal(res); err != nil {
			s.replyError(req, method, st, contract.Errorf(contract.CodeInternal, "encode reply: %v", err))
			return
		}
	}
	s.met.requests.WithLabelValues(method, "ok").Inc()
	c.log.Debug().Dur("took", time.Since(start)).Msg("request done")
	s.reply(req, &nats.Msg{Data: body})
}

// replyError answers with the micro error headers: Nats-Service-Error-Code
// is the contract code, Nats-Service-Error the message, the body error.data.
func (s *Service) replyError(req micro.Request, method string, st *endpointStats, e *contract.Error) {
	st.errors.Add(1)
	s.met.requests.WithLabelValues(method, string(e.Code)).Inc()
	msg := e.Message
	if msg == "" {
		msg = contract.Spec(e.Code).Message
	}
	s.reply(req, &nats.Msg{Header: nats.Header{
		micro.ErrorHeader:     []string{msg},
		micro.ErrorCodeHeader: []string{string(e.Code)},
	}, Data: e.Data})
}

// reply publishes m to the request's reply subject. It does not go through
// micro.Request.Respond: that records the outcome in the request without a
// lock, and micro reads it when its handler returns, which here is before
// the worker answers.
func (s *Service) reply(req micro.Request, m *nats.Msg) {
	if req.Reply() == "" {
		return
	}
	m.Subject = req.Reply()
	if err := s.nc.PublishMsg(m); err != nil {
		s.log.Warn().Err(err).Msg("reply not sent")
	}
}

// decode reads the request body strictly into v.
func decode(c *call, v any) *contract.Error {
	d := json.NewDecoder(bytes.NewReader(c.data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return contract.Errorf(contract.CodeInvalidParams, "bad request body: %v", err)
	}
	return nil
}

func checkConfID(id string) *contract.Error {
	if !contract.ValidConfID(id) {
		return contract.Errorf(contract.CodeInvalidParams, "confid: 4–8 digits expected")
	}
	return nil
}

func checkCallID(id string) *contract.Error {
	if !contract.ValidCallID(id) {
		return contract.Errorf(contract.CodeInvalidParams, "callid: 32 letters or digits expected")
	}
	return nil
}

// withConf adds conf_id to the call's log fields, once.
func (c *call) withConf(confID string) {
	if c.confID == "" {
		c.confID = confID
		c.log = c.log.With().Str(logging.ConfID, confID).Logger()
		tracing.Annotate(c.ctx, tracing.AttrConfID, confID)
	}
}

func (s *Service) internal(c *call, err error) *contract.Error {
	if unavailable(err) {
		// JetStream did not answer within the retries (a leader
		// election, a node down): retryable, not internal.
		c.log.Warn().Err(err).Msg("state unavailable")
		return unavailableError()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return contract.Errorf(contract.CodeTimeout, "deadline passed")
	}
	c.log.Error().Err(err).Msg("internal error")
	return contract.Errorf(contract.CodeInternal, "internal error")
}

// replyContext is ctx ending a little before ctx's deadline (a tenth of
// the time left, at most 500 ms), so that what is decided when it ends
// still reaches the caller in time.
func replyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/10, 500*time.Millisecond)))
}
