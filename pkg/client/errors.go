package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"confapplet/pkg/contract"
)

// Errors.
var (
	// ErrClosed: the client has ended (Close was called, or the connection
	// ended without reconnecting: see Err and CloseCode).
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost: the connection ended while the call was in flight;
	// whether the edge executed it is unknown.
	ErrConnectionLost = errors.New("client: connection lost")
)

// RPCError is a JSON-RPC error object returned by the edge.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	if len(e.Data) > 0 {
		return fmt.Sprintf("rpc error %d: %s (data %s)", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// Retryable reports whether the same request may succeed later unchanged,
// per contract.Table. Unknown codes are not retryable.
func (e *RPCError) Retryable() bool {
	spec, ok := contract.SpecOfRPC(e.Code)
	return ok && spec.Retry
}

// Name returns the contract.Code of e ("conf_not_found", …), or "" when the
// code is not in contract.Table.
func (e *RPCError) Name() contract.Code {
	spec, _ := contract.SpecOfRPC(e.Code)
	return spec.Code
}

// HandshakeError is an HTTP answer to the WebSocket upgrade other than 101.
type HandshakeError struct {
	URL        string
	StatusCode int
	Body       string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake with %s: HTTP %d %s", e.URL, e.StatusCode, strings.TrimSpace(e.Body))
}
