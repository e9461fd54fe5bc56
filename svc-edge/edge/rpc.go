package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// call executes one bound request. Forwarded methods become a NATS request
// to the conference service; WatchConf and UnwatchConf are served here after
// asking the service for authorization. after, when not nil, runs once the
// response is queued (CreateConf starts watching its conference).
func (srv *Server) call(s *session, c jsonrpc.Call, reqID string) (result json.RawMessage, rerr *jsonrpc.Error, after func()) {
	switch c.Method {
	case contract.MethodWatchConf:
		return srv.watchConf(s, c, reqID)
	case contract.MethodUnwatchConf:
		s.unwatch(c.Args.String("confid"))
		return jsonrpc.Null, nil, nil
	}
	body := c.Args.AppendObject(make([]byte, 0, 96))
	result, rerr = srv.request(s, c.Method, body, reqID)
	if rerr == nil && c.Method == contract.MethodCreateConf {
		var confID string
		if json.Unmarshal(result, &confID) == nil && contract.ConfIDPattern.MatchString(confID) {
			after = func() { s.watch(confID, 0, true) }
		}
	}
	return result, rerr, after
}

// request sends one request to conference.<method> with the session's
// identity and deadline in headers and maps the outcome to JSON-RPC.
func (srv *Server) request(s *session, method string, body []byte, reqID string) (json.RawMessage, *jsonrpc.Error) {
	timeout := srv.cfg.Timeout(method)
	ctx, cancel := s.callContext(timeout)
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

// watchConfResult is WatchConf's result.
type watchConfResult struct {
	ConfID string `json:"confid"`
	Seq    uint64 `json:"seq"`
}

// watchConf authorizes (conference.AuthorizeWatch) and starts a watch. The
// result carries the last sequence stored for the conference; replayed
// events follow the response.
func (srv *Server) watchConf(s *session, c jsonrpc.Call, reqID string) (json.RawMessage, *jsonrpc.Error, func()) {
	confID := c.Args.String("confid")
	since, _ := c.Args.Uint("since")
	body := []byte(`{"confid":"` + confID + `"}`)
	if _, rerr := srv.request(s, contract.MethodAuthorizeWatch, body, reqID); rerr != nil {
		return nil, rerr, nil
	}
	last, err := srv.hub.lastSeq(s.context(), confID)
	if err != nil {
		return nil, jsonrpc.CodeError(contract.CodeUnavailable, "events stream unavailable"), nil
	}
	b, _ := json.Marshal(watchConfResult{ConfID: confID, Seq: last})
	return b, nil, func() { s.watch(confID, since, false) }
}
