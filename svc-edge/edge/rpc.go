package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// handler serves one bound request of a session; ctx carries the
// request's span (context.Background() when tracing is off). after, when
// not nil, runs once the response is queued.
type handler func(srv *Server, ctx context.Context, s *session, c jsonrpc.Call, reqID string) (result json.RawMessage, rerr *jsonrpc.Error, after func())

// edgeHandlers serve the methods the table gives to the edge.
var edgeHandlers = map[string]handler{
	contract.MethodWatchConf:    (*Server).watchConf,
	contract.MethodUnwatchConf:  (*Server).unwatchConf,
	contract.MethodRefreshToken: (*Server).refreshToken,
}

// handlers is the edge's dispatch, built from contract.MethodTable: each
// method a browser may call is forwarded to the conference service or
// served by its edge handler (TestEveryMethodHasAHandler checks none is
// missing).
var handlers = func() map[string]handler {
	m := map[string]handler{}
	for _, spec := range contract.MethodTable {
		switch {
		case spec.Internal: // browsers cannot call it
		case spec.Server == contract.ServedByConference:
			m[spec.Name] = (*Server).forward
		default:
			m[spec.Name] = edgeHandlers[spec.Name]
		}
	}
	return m
}()

// call executes one bound request.
func (srv *Server) call(ctx context.Context, s *session, c jsonrpc.Call, reqID string) (json.RawMessage, *jsonrpc.Error, func()) {
	h := handlers[c.Method]
	if h == nil { // the table has a method nobody serves: TestEveryMethodHasAHandler
		return nil, jsonrpc.CodeError(contract.CodeInternal, "method "+c.Method+" has no handler"), nil
	}
	return h(srv, ctx, s, c, reqID)
}

// forward makes the request a NATS request to the conference service. A
// created conference is watched right after the response.
func (srv *Server) forward(ctx context.Context, s *session, c jsonrpc.Call, reqID string) (result json.RawMessage, rerr *jsonrpc.Error, after func()) {
	body := c.Args.AppendObject(make([]byte, 0, 96))
	result, rerr = srv.request(ctx, s, c.Method, body, reqID)
	if rerr == nil && c.Method == contract.MethodCreateConf {
		var confID string
		if json.Unmarshal(result, &confID) == nil && contract.ValidConfID(confID) {
			after = func() { s.watch(confID, 0, true) }
		}
	}
	return result, rerr, after
}

// unwatchConf ends the session's watch of a conference (none is fine).
func (srv *Server) unwatchConf(_ context.Context, s *session, c jsonrpc.Call, _ string) (json.RawMessage, *jsonrpc.Error, func()) {
	s.unwatch(c.Args.String("confid"))
	return jsonrpc.Null, nil, nil
}

// request sends one request to conference.<method> with the session's
// identity, deadline and trace context (of parent's span, if any) in
// headers and maps the outcome to JSON-RPC.
func (srv *Server) request(parent context.Context, s *session, method string, body []byte, reqID string) (json.RawMessage, *jsonrpc.Error) {
	timeout := srv.cfg.Timeout(method)
	ctx, cancel := s.callContext(parent, timeout)
	defer s.endCall(cancel)
	deadline, _ := ctx.Deadline()
	msg := &nats.Msg{
		Subject: contract.ServiceSubject(method),
		Data:    body,
		Header: nats.Header{
			contract.HeaderClientID: {s.clientID},
			contract.HeaderReqID:    {reqID},
			contract.HeaderDeadline: {strconv.FormatInt(deadline.UnixMilli(), 10)},
		},
	}
	if s.operator != "" {
		msg.Header[contract.HeaderOperator] = []string{s.operator}
	}
	if s.role != "" {
		msg.Header[contract.HeaderRole] = []string{s.role}
	}
	if s.source != "" {
		msg.Header[contract.HeaderSource] = []string{s.source}
	}
	if s.grants != "" {
		msg.Header[contract.HeaderWatch] = []string{s.grants}
	}
	tracing.Inject(ctx, msg.Header)
	if !srv.nc.IsConnected() { // a reconnecting client would buffer it until the deadline
		return nil, jsonrpc.CodeError(contract.CodeUnavailable, "service unavailable: the edge is not connected to NATS")
	}
	reply, err := srv.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, requestError(err, method, timeout)
	}
	return replyResult(reply)
}

// requestError maps a failed NATS request.
func requestError(err error, method string, timeout time.Duration) *jsonrpc.Error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return jsonrpc.CodeError(contract.CodeUnavailable, "service unavailable: no conference service is running")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return jsonrpc.CodeError(contract.CodeTimeout, method+" timed out after "+timeout.String())
	default:
		return jsonrpc.CodeError(contract.CodeUnavailable, "service unavailable: "+err.Error())
	}
}

// replyResult turns a service reply into a result or an error: micro error
// headers carry a contract.Code and message, the body is error.data; a
// successful body is the JSON-RPC result verbatim.
func replyResult(reply *nats.Msg) (json.RawMessage, *jsonrpc.Error) {
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, jsonrpc.FromContract(&contract.Error{
			Code:    contract.Code(code),
			Message: reply.Header.Get(micro.ErrorHeader),
			Data:    reply.Data,
		})
	}
	if len(reply.Data) == 0 {
		return jsonrpc.Null, nil
	}
	if !json.Valid(reply.Data) {
		return nil, jsonrpc.CodeError(contract.CodeInternal, "the conference service sent an invalid result")
	}
	return reply.Data, nil
}

// watchConf authorizes (conference.AuthorizeWatch) and starts a watch. The
// result carries the last sequence stored for the conference; replayed
// events follow the response.
func (srv *Server) watchConf(ctx context.Context, s *session, c jsonrpc.Call, reqID string) (json.RawMessage, *jsonrpc.Error, func()) {
	confID := c.Args.String("confid")
	since, _ := c.Args.Uint("since")
	body := []byte(`{"confid":"` + confID + `"}`)
	res, rerr := srv.request(ctx, s, contract.MethodAuthorizeWatch, body, reqID)
	if rerr != nil {
		return nil, rerr, nil
	}
	last, err := srv.hub.lastSeq(s.context(), confID)
	if err != nil {
		return nil, jsonrpc.CodeError(contract.CodeUnavailable, "events stream unavailable"), nil
	}
	b, _ := json.Marshal(contract.WatchConfResult{ConfID: confID, Seq: last})
	if endedWatch(res) {
		return b, nil, func() { s.watchEnded(confID, since, false) }
	}
	return b, nil, func() { s.watch(confID, since, false) }
}
