package edge

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"
	"confapplet/pkg/logging"
	"confapplet/pkg/token"
	"confapplet/pkg/tracing"

	"github.com/rs/zerolog"
)

// session is one browser connection: its identity, its request queue and
// its watches. It talks to the socket only through Transport.
//
// Goroutines: the connection's reader calls handle for each message; a
// worker runs only while requests are pending and exits when the queue is
// empty, so an idle session costs no goroutine beyond the reader.
//
// Memory: an idle session holds only this struct. The context of its calls
// exists only while the worker runs, and log lines get the client and
// connection ids when they are written (no per-session logger).
type session struct {
	srv      *Server
	connID   string
	clientID string
	operator string
	start    time.Time // when the connection arrived: the newest per client id wins
	t        Transport

	// From the connection token (jwt.go); changed by RefreshToken, which
	// runs on the worker, as every reader of role and grants does.
	role    string       // contract.HeaderRole value: "operator" or ""
	grants  string       // contract.HeaderWatch value
	expires atomic.Int64 // token expiry, Unix ns; 0 = none (closed at it: watchExpiry)
	source  string       // the connection's source address (source.go): contract.HeaderSource

	// ctx is the worker's context for watches and replays: made on first
	// use (context), canceled when the session ends or the worker exits,
	// nil otherwise. Only the worker's code reads it.
	ctx context.Context

	mu      sync.Mutex
	cancel  context.CancelFunc // ctx's
	expiry  *time.Timer        // closes the connection at the token's expiry (watchExpiry)
	call    context.CancelFunc // the NATS request in flight (request), if any
	queue   []job
	running bool
	closed  bool
	// waiting is the bytes of ready-made answers in queue (see answer); it
	// sits in the padding after the two bools, so an idle session is no
	// bigger for it.
	waiting uint32
	reqSeq  uint64
	watches map[string]*watch
}

// job is one queued unit of work: a request, a ready-made answer (an
// invalid request's error, a busy refusal) waiting for the answers ahead of
// it, or an internal task (auto-watch) that must run in the session's order.
type job struct {
	call   jsonrpc.Call
	answer []byte
	task   func()
	enqAt  time.Time
}

func newSession(srv *Server, connID, clientID, operator string, t Transport) *session {
	return &session{srv: srv, connID: connID, clientID: clientID, operator: operator, t: t, start: time.Now()}
}

// setIdentity applies a verified token to the session.
func (s *session) setIdentity(id identity) {
	s.role, s.grants = "", id.watch
	if id.operator {
		s.role = token.RoleOperator
	}
	if !id.exp.IsZero() {
		s.expires.Store(id.exp.UnixNano())
		s.watchExpiry(id.exp.UnixNano())
	}
}

// Log events carrying the session's client and connection ids (nil, and
// free, when the level is off).
func (s *session) tag(e *zerolog.Event) *zerolog.Event {
	return e.Str(logging.ClientID, s.clientID).Str("conn_id", s.connID)
}
func (s *session) logDebug() *zerolog.Event { return s.tag(s.srv.log.Debug()) }
func (s *session) logInfo() *zerolog.Event  { return s.tag(s.srv.log.Info()) }
func (s *session) logWarn() *zerolog.Event  { return s.tag(s.srv.log.Warn()) }
func (s *session) logError() *zerolog.Event { return s.tag(s.srv.log.Error()) }

// handle processes one incoming message (called by the reader, in order).
func (s *session) handle(data []byte) {
	c, err := jsonrpc.Parse(data, contract.Methods)
	if err != nil {
		s.srv.metrics.requests.WithLabelValues(methodLabel(c.Method), outcome(err)).Inc()
		s.logDebug().Str(logging.Method, c.Method).Int("code", err.Code).Msg(err.Message)
		if c.ID != nil {
			s.answer(jsonrpc.AppendError(nil, c.ID, err))
		}
		return
	}
	s.enqueue(job{call: c})
}

// answer sends an answer made by the reader (an invalid request's error, a
// busy refusal) in request order: at once when no request is queued or
// running, else after the answers of the requests ahead of it. Answers
// waiting so are bytes owed to the client like those of the send queue, and
// bounded by the same limit: a client that piles up more than
// Config.SendQueueBytes of them is closed as a slow consumer.
func (s *session) answer(msg []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if !s.running {
		// Nothing ahead: every earlier answer has been written.
		s.mu.Unlock()
		_ = s.t.Write(msg)
		return
	}
	s.queueAnswer(msg)
}

// queueAnswer appends a ready-made answer to the FIFO. Called with s.mu
// held, it releases it.
func (s *session) queueAnswer(msg []byte) {
	if int(s.waiting)+len(msg) > min(s.srv.cfg.SendQueueBytes, math.MaxUint32) {
		s.mu.Unlock()
		s.srv.onSlow()
		s.t.Close(contract.CloseSlowConsumer)
		return
	}
	s.waiting += uint32(len(msg))
	s.queue = append(s.queue, job{answer: msg})
	s.mu.Unlock()
}

// enqueue adds j to the FIFO, or refuses it with -32002 when the queue is
// full (a refused notification is only logged and counted: it has no id to
// answer). The refusal waits in the FIFO for its turn like any answer.
func (s *session) enqueue(j job) {
	j.enqAt = time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if j.task == nil && len(s.queue) >= s.srv.cfg.QueueLen {
		if j.call.ID == nil {
			s.mu.Unlock()
		} else {
			s.queueAnswer(jsonrpc.AppendError(nil, j.call.ID, jsonrpc.CodeError(contract.CodeBusy, "")))
		}
		s.srv.metrics.queueOverflows.Inc()
		s.srv.metrics.requests.WithLabelValues(methodLabel(j.call.Method), string(contract.CodeBusy)).Inc()
		s.logWarn().Str(logging.Method, j.call.Method).RawJSON("id", idForLog(j.call.ID)).Msg("request queue full")
		return
	}
	s.queue = append(s.queue, j)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.work()
	}
}

// work runs the queue until it is empty.
func (s *session) work() {
	for {
		s.mu.Lock()
		if s.closed || len(s.queue) == 0 {
			s.running = false
			s.queue, s.waiting = nil, 0
			cancel := s.cancel
			s.ctx, s.cancel = nil, nil // an idle session keeps no context
			s.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			return
		}
		j := s.queue[0]
		s.queue[0] = job{}
		s.queue = s.queue[1:]
		s.waiting -= uint32(len(j.answer))
		s.mu.Unlock()
		switch {
		case j.answer != nil:
			_ = s.t.Write(j.answer)
		case j.task != nil:
			j.task()
		default:
			s.run(j)
		}
	}
}

// run executes one request and writes its response.
func (s *session) run(j job) {
	c := j.call
	s.mu.Lock()
	s.reqSeq++
	reqID := s.connID + "-" + strconv.FormatUint(s.reqSeq, 10)
	s.mu.Unlock()
	start := time.Now()
	ctx := context.Background()
	if tr := s.srv.cfg.Tracer; tr != nil {
		ctx = tr.Request(c.Method, c.Args.String("confid"), s.clientID)
	}
	result, rerr, after := s.srv.call(ctx, s, c, reqID)
	out := "ok"
	if rerr != nil {
		out = outcome(rerr)
	}
	if s.isClosed() {
		tracing.End(ctx, traceCode(rerr, out))
		return // the session ended meanwhile: nobody to answer
	}
	s.srv.metrics.observe(c.Method, out, time.Since(start))
	ev := s.logDebug()
	if rerr != nil && rerr.Code != jsonrpc.CodeInvalidParams {
		ev = s.logInfo()
	}
	tracing.Tag(ctx, ev).Str(logging.ReqID, reqID).Str(logging.Method, c.Method).Str("outcome", out).
		Dur("queued", start.Sub(j.enqAt)).Dur("took", time.Since(start)).Msg("request")
	if c.ID != nil {
		if rerr != nil {
			_ = s.t.Write(jsonrpc.AppendError(nil, c.ID, rerr))
		} else {
			_ = s.t.Write(jsonrpc.AppendResult(make([]byte, 0, 48+len(c.ID)+len(result)), c.ID, result))
		}
	}
	tracing.End(ctx, traceCode(rerr, out)) // the answer is queued; what after starts is not the request's
	if after != nil {
		after()
	}
}

// close ends the session's work: pending requests are dropped, in-flight
// calls canceled, watches released. Idempotent.
func (s *session) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.queue, s.waiting = nil, 0
	ws := s.watches
	s.watches = nil
	cancel, call := s.cancel, s.call
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if call != nil {
		call()
	}
	for _, w := range ws {
		s.srv.hub.remove(w)
	}
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// context returns the worker's context (watches, replays), canceled when
// the session ends. Worker only.
func (s *session) context() context.Context {
	if s.ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.mu.Lock()
		if s.closed {
			cancel()
		}
		s.ctx, s.cancel = ctx, cancel
		s.mu.Unlock()
	}
	return s.ctx
}

// callContext is the context of one NATS request of the worker: its own
// deadline, and canceled by close. It is not derived from the worker's
// context, so the request path makes no context tree: parent is the
// request's span (context.Background() when tracing is off). The caller
// must call endCall(cancel).
func (s *session) callContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	s.mu.Lock()
	if s.closed {
		cancel()
	} else {
		s.call = cancel
	}
	s.mu.Unlock()
	return ctx, cancel
}

func (s *session) endCall(cancel context.CancelFunc) {
	s.mu.Lock()
	s.call = nil
	s.mu.Unlock()
	cancel()
}

// notify queues a notification built here (not a shared event).
func (s *session) notify(method string, params any) {
	b, err := json.Marshal(params)
	if err != nil {
		return
	}
	_ = s.t.Write(jsonrpc.AppendNotification(nil, method, b))
}

// outcome names an error for metrics: the contract code when the JSON-RPC
// code is in the table, else the number.
func outcome(e *jsonrpc.Error) string {
	if spec, ok := contract.SpecOfRPC(e.Code); ok {
		return string(spec.Code)
	}
	return strconv.Itoa(e.Code)
}

// traceCode is what a request's span says of its outcome: nothing when it
// succeeded.
func traceCode(rerr *jsonrpc.Error, out string) string {
	if rerr == nil {
		return ""
	}
	return out
}

func idForLog(id json.RawMessage) []byte {
	if id == nil {
		return []byte("null")
	}
	return id
}
