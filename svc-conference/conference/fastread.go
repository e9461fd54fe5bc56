package conference

import (
	"encoding/json"
	"strconv"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/micro"
)

// The read methods' inline path. QueryConfState, GetConf and
// AuthorizeWatch are answered in micro's handler goroutine, without the
// worker pool, a per-request logger or a JSON decoder, when the in-memory
// view has the record and nothing else is needed. Everything else — a
// body other than {"confid":"<digits>"}, a bad or missing client id, a
// deadline already passed, a record the view cannot vouch for (not in
// sync, an own write not yet delivered, absent), a caller that is not the
// owner (forbidden is logged), an operator, role or watch header — goes the ordinary way
// (endpoint → pool → handler), which answers, logs and counts as before.

const (
	readQuery = iota + 1
	readGet
	readAuthorize
)

// inlineReads are the inline paths, by method: the methods
// contract.MethodTable marks Inline (TestEveryMethodHasAHandler).
var inlineReads = map[string]int{
	contract.MethodQueryConfState: readQuery,
	contract.MethodGetConf:        readGet,
	contract.MethodAuthorizeWatch: readAuthorize,
}

// fastRead returns method's inline path, or nil when it has none.
func (s *Service) fastRead(method string) func(micro.Request) bool {
	kind := inlineReads[method]
	if s.st.view == nil || kind == 0 {
		return nil
	}
	okCount := s.met.requests.WithLabelValues(method, "ok")
	duration := s.met.duration.WithLabelValues(method)
	return func(req micro.Request) bool {
		if s.closing.Load() {
			return false
		}
		start := time.Now()
		hd := req.Headers()
		client := hd.Get(contract.HeaderClientID)
		if !contract.ValidClientID(client) || hd.Get(contract.HeaderOperator) != "" || hd.Get(contract.HeaderRole) != "" || hd.Get(contract.HeaderWatch) != "" {
			return false
		}
		if v := hd.Get(contract.HeaderDeadline); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err != nil || ms <= start.UnixMilli() {
				return false
			}
		}
		confID, ok := confIDBody(req.Data())
		if !ok {
			return false
		}
		r, ok := s.st.view.lookupBytes(confID)
		if !ok || r == nil {
			return false
		}
		var buf [64]byte
		var body []byte
		switch kind {
		case readQuery:
			if r.Owner != client {
				return false
			}
			body = appendConfState(buf[:0], r.State, r.count())
		case readGet:
			if r.Owner != client {
				return false
			}
			b, err := json.Marshal(r.getConfResult(s.loc))
			if err != nil {
				return false
			}
			body = b
		case readAuthorize:
			if r.Owner != client {
				return false
			}
			body = append(buf[:0], "null"...)
		}
		if reply := req.Reply(); reply != "" {
			if err := s.nc.Publish(reply, body); err != nil {
				s.log.Warn().Err(err).Msg("reply not sent")
			}
		}
		s.st.view.hits.Inc()
		okCount.Inc()
		duration.Observe(time.Since(start).Seconds())
		return true
	}
}

// appendConfState appends the QueryConfState result as json.Marshal of a
// contract.ConfState writes it.
func appendConfState(b []byte, state, count int) []byte {
	b = append(b, `{"state":`...)
	b = strconv.AppendInt(b, int64(state), 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	return append(b, '}')
}

// confIDBody reads a body that is exactly {"confid":"<4–8 digits>"}
// (JSON whitespace allowed between tokens). ok is false for anything else,
// which the strict decoder of the ordinary path then judges.
func confIDBody(b []byte) ([]byte, bool) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	lit := func(s string) bool {
		ws()
		if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
			return false
		}
		i += len(s)
		return true
	}
	if !lit("{") || !lit(`"confid"`) || !lit(":") || !lit(`"`) {
		return nil, false
	}
	j := i
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	n := j - i
	if n < 4 || n > 8 || j >= len(b) || b[j] != '"' {
		return nil, false
	}
	id := b[i:j]
	i = j + 1
	if !lit("}") {
		return nil, false
	}
	ws()
	return id, i == len(b)
}
