// Package jsonrpc is confapplet's strict JSON-RPC 2.0 codec: it decodes one
// WebSocket message into a request, looks the method up in the contract and
// binds its params, and it encodes responses and notifications fast.
//
// Rules (docs/protocol.md repeats them for front-end developers):
//   - invalid JSON → -32700, id null;
//   - any JSON array, [] included, is a batch → one -32600 error, id null,
//     "batch requests are not supported";
//   - -32600 also for a message that is not an object, a "jsonrpc" member
//     missing or not exactly "2.0", a "method" missing or not a string, an
//     "id" that is not a string, number or null, "params" that is not an
//     array or object, and a repeated member; the id is echoed when it was
//     valid, else null. A malformed message is always answered: only a
//     well-formed request without "id" is a notification;
//   - unknown method → -32601; wrong params → -32602 naming the param;
//   - a notification is never answered, even when it fails;
//   - ids are kept as the exact bytes received (json.RawMessage), never
//     converted through float64.
package jsonrpc

import (
	"encoding/json"

	"confapplet/pkg/contract"
)

// Version is the only accepted value of the "jsonrpc" member.
const Version = "2.0"

// Standard JSON-RPC 2.0 error codes. The application codes live in
// contract.Table.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
)

// Error is a JSON-RPC error object.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// newError returns an error with a standard code.
func newError(code int, msg string) *Error { return &Error{Code: code, Message: msg} }

// FromContract converts a service error into a JSON-RPC error through
// contract.Table: the table's code, the service's message (or the table's
// default), and Data verbatim when it is valid JSON.
func FromContract(e *contract.Error) *Error {
	spec := contract.Spec(e.Code)
	out := &Error{Code: spec.RPC, Message: e.Message}
	if out.Message == "" {
		out.Message = spec.Message
	}
	if len(e.Data) > 0 && json.Valid(e.Data) {
		out.Data = e.Data
	}
	return out
}

// CodeError returns the JSON-RPC error of a contract code with the table's
// default message, or msg when msg is not empty.
func CodeError(code contract.Code, msg string) *Error {
	spec := contract.Spec(code)
	if msg == "" {
		msg = spec.Message
	}
	return &Error{Code: spec.RPC, Message: msg}
}

// Null is the JSON literal null, the id of responses to messages whose id
// could not be read.
var Null = json.RawMessage("null")

// Request is one decoded request or notification.
type Request struct {
	// ID is the id exactly as received; nil for a notification.
	ID json.RawMessage
	// Method is the decoded method name.
	Method string
	// Params is the raw "params" member: an array, an object, or nil when
	// it was absent.
	Params json.RawMessage
}

// IsNotification reports whether r had no "id" member.
func (r *Request) IsNotification() bool { return r.ID == nil }

// Call is a request whose method was found and whose params were bound.
type Call struct {
	Request
	Args Args
}
