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

// Decode reads one message. When it fails, the returned Request's ID is the
// id to answer with: the message's own id when it could be read, else null.
// Structural errors (-32700, -32600) are always answered.
func Decode(data []byte) (Request, *Error) {
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
	err := eachMember(data[i:], func(key string, val json.RawMessage) bool {
		var slot *json.RawMessage
		switch key {
		case "jsonrpc":
			slot = &version
		case "id":
			slot = &id
		case "method":
			slot = &method
		case "params":
			slot = &params
		default:
			return true // other members are ignored
		}
		if *slot != nil {
			dup = key
			return false
		}
		*slot = val
		return true
	})
	if err != nil { // cannot happen on valid JSON; stay safe
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
	req, err := Decode(data)
	c := Call{Request: req}
	if err != nil {
		return c, err
	}
	spec, ok := methods[req.Method]
	if !ok {
		return c, newError(CodeMethodNotFound, "method not found: "+quote(req.Method))
	}
	c.Spec = spec
	c.Args, err = Bind(spec, req.Params)
	return c, err
}

// quote returns s as a JSON string, for messages.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return string(appendString(nil, s))
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

// eachMember calls fn for every member of the JSON object at the start of
// data (which must be valid JSON), with the decoded key and the raw value.
// fn returns false to stop.
func eachMember(data []byte, fn func(key string, val json.RawMessage) bool) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return scanError{}
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for i < len(data) {
		end, err := skipValue(data, i)
		if err != nil || data[i] != '"' {
			return scanError{}
		}
		key, ok := stringValue(data[i:end])
		if !ok {
			return scanError{}
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return scanError{}
		}
		i = skipWS(data, i+1)
		end, err = skipValue(data, i)
		if err != nil {
			return err
		}
		if !fn(key, data[i:end:end]) {
			return nil
		}
		i = skipWS(data, end)
		if i >= len(data) {
			return scanError{}
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return nil
		default:
			return scanError{}
		}
	}
	return scanError{}
}

// eachElement calls fn for every element of the JSON array at the start of
// data (valid JSON).
func eachElement(data []byte, fn func(val json.RawMessage) bool) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return scanError{}
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for i < len(data) {
		end, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if !fn(data[i:end:end]) {
			return nil
		}
		i = skipWS(data, end)
		if i >= len(data) {
			return scanError{}
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			return nil
		default:
			return scanError{}
		}
	}
	return scanError{}
}

// skipValue returns the end of the JSON value starting at data[i]. It trusts
// that data is valid JSON (Decode checks first).
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
