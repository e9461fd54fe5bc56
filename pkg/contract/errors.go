package contract

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Code names an error condition on the bus. The conference service sends it
// in the micro error-code header (Nats-Service-Error-Code), with the message
// in Nats-Service-Error and Error.Data as the body; the edge turns it into a
// JSON-RPC error through Table.
type Code string

const (
	// Standard JSON-RPC conditions.
	CodeParse          Code = "parse_error"
	CodeInvalidRequest Code = "invalid_request"
	CodeNoMethod       Code = "method_not_found"
	CodeInvalidParams  Code = "invalid_params"
	CodeInternal       Code = "internal"

	// Transport conditions, raised by the edge.
	CodeUnavailable Code = "unavailable" // no conference service answered (NATS no responders, NATS down)
	CodeTimeout     Code = "timeout"     // the deadline passed before a reply
	CodeBusy        Code = "busy"        // the connection's request queue is full

	// Application conditions, raised by the conference service.
	CodeConfNotFound    Code = "conf_not_found"
	CodeCallNotFound    Code = "call_not_found"
	CodeForbidden       Code = "forbidden"
	CodeNumberRefused   Code = "number_not_allowed"
	CodeRateLimited     Code = "rate_limited"
	CodeLimit           Code = "limit_exceeded"
	CodeConfEnded       Code = "conf_ended"
	CodePlatform        Code = "platform_error"       // the platform answered with a non-000000 statusCode; Data holds it
	CodePlatformDown    Code = "platform_unavailable" // the platform could not be reached or answered non-200
	CodeIdempotencyUsed Code = "idempotency_conflict" // the key was used before with different params
	CodeHistoryGone     Code = "history_gone"         // reserved: the edge reports lost history with the OnConfEventsLost notification instead
	CodeUnauthorized    Code = "unauthorized"         // RefreshToken: the new token was refused; error.data says why
)

// ErrorSpec is one row of Table.
type ErrorSpec struct {
	Code    Code
	RPC     int    // JSON-RPC error.code
	Message string // default error.message
	Retry   bool   // whether the same request may succeed later unchanged
}

// Table is THE mapping of service errors to JSON-RPC error codes; the
// protocol document reproduces it. Application codes sit outside the range
// JSON-RPC reserves (-32768..-32000) except the three transport conditions,
// which are server errors in the implementation-defined -32000..-32099 range.
var Table = []ErrorSpec{
	{CodeParse, -32700, "parse error", false},
	{CodeInvalidRequest, -32600, "invalid request", false},
	{CodeNoMethod, -32601, "method not found", false},
	{CodeInvalidParams, -32602, "invalid params", false},
	{CodeInternal, -32603, "internal error", true},
	{CodeUnavailable, -32000, "service unavailable", true},
	{CodeTimeout, -32001, "timeout", true},
	{CodeBusy, -32002, "too many pending requests on this connection", true},
	{CodeConfNotFound, 1001, "conference not found", false},
	{CodeCallNotFound, 1002, "call not found", false},
	{CodeForbidden, 1003, "forbidden", false},
	{CodeNumberRefused, 1004, "number not allowed", false},
	{CodeRateLimited, 1005, "rate limited", true},
	{CodeLimit, 1006, "limit exceeded", false},
	{CodeConfEnded, 1007, "conference has ended", false},
	{CodePlatform, 1008, "telephony platform error", false},
	{CodePlatformDown, 1009, "telephony platform unavailable", true},
	{CodeIdempotencyUsed, 1010, "idempotency key reused with different params", false},
	{CodeHistoryGone, 1011, "events no longer available; call QueryConfState", false},
	{CodeUnauthorized, 1012, "token refused", false},
}

var byCode, byRPC = func() (map[Code]ErrorSpec, map[int]ErrorSpec) {
	c := make(map[Code]ErrorSpec, len(Table))
	r := make(map[int]ErrorSpec, len(Table))
	for _, s := range Table {
		c[s.Code] = s
		r[s.RPC] = s
	}
	return c, r
}()

// Spec returns the row of code; unknown codes map to CodeInternal, so a
// newer service never makes an older edge answer with a non-JSON-RPC code.
func Spec(code Code) ErrorSpec {
	if s, ok := byCode[code]; ok {
		return s
	}
	return byCode[CodeInternal]
}

// SpecOfRPC returns the row of a JSON-RPC error code; ok is false for a
// code not in Table.
func SpecOfRPC(rpc int) (spec ErrorSpec, ok bool) {
	spec, ok = byRPC[rpc]
	return spec, ok
}

// Error is a service error: what travels in the micro error headers and what
// the edge turns into a JSON-RPC error object.
type Error struct {
	Code    Code
	Message string
	Data    json.RawMessage // JSON-RPC error.data, optional
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithData returns a copy of e carrying v, JSON-encoded, as error.data.
func (e *Error) WithData(v any) *Error {
	b, err := json.Marshal(v)
	if err != nil {
		return e
	}
	c := *e
	c.Data = b
	return &c
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// PlatformErrorData is error.data of CodePlatform.
type PlatformErrorData struct {
	StatusCode string `json:"statusCode"`
	StatusMsg  string `json:"statusMsg,omitempty"`
}
