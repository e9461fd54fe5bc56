package jsonrpc

import (
	"bytes"
	"encoding/json"

	"confapplet/pkg/contract"
)

// Messages of the structural errors, stable for clients and tests.
const (
	msgParse        = "parse error: invalid JSON"
	msgBatch        = "invalid request: batch requests are not supported"
	msgNotObject    = "invalid request: not a JSON object"
	msgVersion      = `invalid request: "jsonrpc" must be "2.0"`
	msgMethod       = `invalid request: "method" must be a string`
	msgID           = `invalid request: "id" must be a string, a number or null`
	msgParams       = `invalid request: "params" must be an array or an object`
	msgDuplicateKey = "invalid request: repeated member "
)

// decode reads one message. When it fails, the returned Request's ID is the
// id to answer with: the message's own id when it could be read, else null.
// Structural errors (-32700, -32600) are always answered.
func decode(data []byte) (Request, *Error) {
	var req Request
	if !json.Valid(data) {
		req.ID = Null
		return req, newError(CodeParseError, msgParse)
	}
	i := skipWS(data, 0)
	switch data[i] {
	case '[':
		req.ID = Null
		return req, newError(CodeInvalidRequest, msgBatch)
	case '{':
	default:
		req.ID = Null
		return req, newError(CodeInvalidRequest, msgNotObject)
	}
	var version, id, method, params json.RawMessage
	var dup string
	it := members{data: data[i:]}
	for {
		key, val, ok := it.next()
		if !ok {
			break
		}
		var slot *json.RawMessage
		switch {
		case keyIs(key, "jsonrpc"):
			slot = &version
		case keyIs(key, "id"):
			slot = &id
		case keyIs(key, "method"):
			slot = &method
		case keyIs(key, "params"):
			slot = &params
		default:
			continue // other members are ignored
		}
		if *slot != nil {
			// Keep reading: an id after the repeat is still echoed.
			if dup == "" {
				dup = keyString(key)
			}
			continue
		}
		*slot = val
	}
	if it.err { // cannot happen on valid JSON; stay safe
		req.ID = Null
		return req, newError(CodeParseError, msgParse)
	}
	// The id first, so that the other errors can echo it.
	req.ID = Null
	idOK := id == nil
	if id != nil {
		switch id[0] {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			req.ID, idOK = id, true
		}
	}
	if dup != "" {
		return req, newError(CodeInvalidRequest, msgDuplicateKey+`"`+dup+`"`)
	}
	if !idOK {
		return req, newError(CodeInvalidRequest, msgID)
	}
	if s, ok := stringValue(version); !ok || s != Version {
		return req, newError(CodeInvalidRequest, msgVersion)
	}
	m, ok := stringValue(method)
	if !ok {
		return req, newError(CodeInvalidRequest, msgMethod)
	}
	if params != nil && params[0] != '[' && params[0] != '{' {
		return req, newError(CodeInvalidRequest, msgParams)
	}
	if id == nil {
		req.ID = nil // a notification
	}
	req.Method = m
	req.Params = params
	return req, nil
}

// Parse decodes data, looks its method up in methods and binds the params.
// On failure the returned Call's ID tells whether and how to answer: nil
// means the message was a notification and gets no answer; otherwise answer
// with that id (null when the message's id could not be read).
func Parse(data []byte, methods map[string]contract.Method) (Call, *Error) {
	req, err := decode(data)
	c := Call{Request: req}
	if err != nil {
		return c, err
	}
	spec, ok := methods[req.Method]
	if !ok {
		return c, newError(CodeMethodNotFound, "method not found: "+quote(req.Method))
	}
	c.Args, err = bind(spec, req.Params)
	return c, err
}

// quote returns s as a JSON string, for messages.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return string(AppendString(nil, s))
}

// stringValue decodes a raw JSON string; ok is false for any other value.
func stringValue(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

type scanError struct{}

func (scanError) Error() string { return "jsonrpc: malformed JSON" }

// members iterates over the members of the JSON object at the start of
// data (which must be valid JSON): each key raw (between its quotes, escapes
// kept) and each value raw. err is set if data was malformed after all.
type members struct {
	data    []byte
	i       int
	started bool
	done    bool
	err     bool
}

func (m *members) next() (key, val []byte, ok bool) {
	if m.done {
		return nil, nil, false
	}
	d := m.data
	if !m.started {
		m.started = true
		m.i = skipWS(d, 0)
		if m.i >= len(d) || d[m.i] != '{' {
			return m.fail()
		}
		m.i = skipWS(d, m.i+1)
		if m.i < len(d) && d[m.i] == '}' {
			m.done = true
			return nil, nil, false
		}
	} else {
		m.i = skipWS(d, m.i)
		if m.i >= len(d) {
			return m.fail()
		}
		switch d[m.i] {
		case ',':
			m.i = skipWS(d, m.i+1)
		case '}':
			m.done = true
			return nil, nil, false
		default:
			return m.fail()
		}
	}
	if m.i >= len(d) || d[m.i] != '"' {
		return m.fail()
	}
	end, err := skipValue(d, m.i)
	if err != nil {
		return m.fail()
	}
	key = d[m.i+1 : end-1]
	m.i = skipWS(d, end)
	if m.i >= len(d) || d[m.i] != ':' {
		return m.fail()
	}
	m.i = skipWS(d, m.i+1)
	end, err = skipValue(d, m.i)
	if err != nil {
		return m.fail()
	}
	val = d[m.i:end:end]
	m.i = end
	return key, val, true
}

func (m *members) fail() ([]byte, []byte, bool) {
	m.err, m.done = true, true
	return nil, nil, false
}

// elements iterates over the elements of the JSON array at the start of
// data (valid JSON).
type elements struct {
	data    []byte
	i       int
	started bool
	done    bool
	err     bool
}

func (e *elements) next() (val []byte, ok bool) {
	if e.done {
		return nil, false
	}
	d := e.data
	if !e.started {
		e.started = true
		e.i = skipWS(d, 0)
		if e.i >= len(d) || d[e.i] != '[' {
			return e.fail()
		}
		e.i = skipWS(d, e.i+1)
		if e.i < len(d) && d[e.i] == ']' {
			e.done = true
			return nil, false
		}
	} else {
		e.i = skipWS(d, e.i)
		if e.i >= len(d) {
			return e.fail()
		}
		switch d[e.i] {
		case ',':
			e.i = skipWS(d, e.i+1)
		case ']':
			e.done = true
			return nil, false
		default:
			return e.fail()
		}
	}
	end, err := skipValue(d, e.i)
	if err != nil {
		return e.fail()
	}
	val = d[e.i:end:end]
	e.i = end
	return val, true
}

func (e *elements) fail() ([]byte, bool) {
	e.err, e.done = true, true
	return nil, false
}

// keyIs reports whether the raw key (between quotes) decodes to name.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	return keyString(raw) == name
}

// keyString decodes a raw key.
func keyString(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	s, _ := stringValue(append(append([]byte{'"'}, raw...), '"'))
	return s
}

// skipValue returns the end of the JSON value starting at data[i]. It trusts
// that data is valid JSON (decode checks first).
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, scanError{}
	}
	switch data[i] {
	case '"':
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, scanError{}
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipValue(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, scanError{}
	default:
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, scanError{}
				}
				return j, nil
			}
			j++
		}
		if j == i {
			return 0, scanError{}
		}
		return j, nil
	}
}
