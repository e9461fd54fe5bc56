package contract

import (
	"regexp"
	"time"
)

// Method names of the JSON-RPC protocol (docs/protocol.md). The first five
// are the seed's; the rest are the platform's extra conference commands and
// the edge's own watch methods.
const (
	MethodCreateConf     = "CreateConf"
	MethodDismissConf    = "DismissConf"
	MethodInviteJoinConf = "InviteJoinConf"
	MethodQuitConf       = "QuitConf"
	MethodQueryConfState = "QueryConfState"
	MethodGetConf        = "GetConf"
	MethodConfMute       = "ConfMute"
	MethodConfUnMute     = "ConfUnMute"
	MethodConfRecord     = "ConfRecord"
	MethodConfStopRecord = "ConfStopRecord"
	MethodWatchConf      = "WatchConf"
	MethodUnwatchConf    = "UnwatchConf"

	// MethodListOwned is internal: the edge asks which live conferences a
	// client owns when the client connects. Browsers cannot call it.
	MethodListOwned = "ListOwned"
	// MethodAuthorizeWatch is internal: the edge asks whether a client may
	// watch a conference before WatchConf subscribes it.
	MethodAuthorizeWatch = "AuthorizeWatch"
)

// ParamKind says how a param is validated.
type ParamKind int

const (
	KindConfID  ParamKind = iota + 1 // JSON string of 4–8 digits
	KindCallID                       // JSON string of 32 letters/digits
	KindNumbers                      // JSON string: phone numbers joined by '#'
	KindInt                          // JSON integer
	KindKey                          // JSON string, 1–128 printable ASCII chars
	KindSeq                          // JSON non-negative integer
)

// Param describes one param. Positional params come in the order of
// Method.Params; optional params may be given only by name unless
// Positional is set.
type Param struct {
	Name       string
	Kind       ParamKind
	Optional   bool
	Positional bool
}

// Method describes one JSON-RPC method browsers may call.
type Method struct {
	Name   string
	Params []Param
	// Edge marks methods the edge serves itself (after asking the service
	// for authorization); the rest are forwarded to ServiceSubject(Name).
	Edge bool
	// Timeout is the default deadline of the call; the edge lets operators
	// override it per method.
	Timeout time.Duration
}

// ParamIdempotencyKey is the optional named param of BRIEF decision 13.
const ParamIdempotencyKey = "idempotency_key"

var (
	confID = Param{Name: "confid", Kind: KindConfID, Positional: true}
	callID = Param{Name: "callid", Kind: KindCallID, Positional: true}
	idem   = Param{Name: ParamIdempotencyKey, Kind: KindKey, Optional: true}
)

// Methods is every method a browser may call, by name.
var Methods = map[string]Method{
	MethodCreateConf: {Name: MethodCreateConf, Timeout: 10 * time.Second, Params: []Param{
		{Name: "maxmember", Kind: KindInt, Optional: true}, idem}},
	MethodDismissConf: {Name: MethodDismissConf, Timeout: 10 * time.Second, Params: []Param{confID}},
	MethodInviteJoinConf: {Name: MethodInviteJoinConf, Timeout: 10 * time.Second, Params: []Param{
		confID, {Name: "number", Kind: KindNumbers, Positional: true}, idem}},
	MethodQuitConf:       {Name: MethodQuitConf, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	MethodQueryConfState: {Name: MethodQueryConfState, Timeout: 5 * time.Second, Params: []Param{confID}},
	MethodGetConf:        {Name: MethodGetConf, Timeout: 5 * time.Second, Params: []Param{confID}},
	MethodConfMute:       {Name: MethodConfMute, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	MethodConfUnMute:     {Name: MethodConfUnMute, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	MethodConfRecord:     {Name: MethodConfRecord, Timeout: 10 * time.Second, Params: []Param{confID}},
	MethodConfStopRecord: {Name: MethodConfStopRecord, Timeout: 10 * time.Second, Params: []Param{confID}},
	MethodWatchConf: {Name: MethodWatchConf, Edge: true, Timeout: 5 * time.Second, Params: []Param{
		confID, {Name: "since", Kind: KindSeq, Optional: true, Positional: true}}},
	MethodUnwatchConf: {Name: MethodUnwatchConf, Edge: true, Timeout: 5 * time.Second, Params: []Param{confID}},
}

// Formats of identifiers (BRIEF decision 1).
var (
	ConfIDPattern   = regexp.MustCompile(`^[0-9]{4,8}$`)
	CallIDPattern   = regexp.MustCompile(`^[0-9A-Za-z]{32}$`)
	ClientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	KeyPattern      = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// Request bodies sent to the conference service, as JSON. The caller's
// identity travels in headers (HeaderClientID, HeaderOperator), never in the
// body, so a browser cannot claim to be someone else.

// CreateConfRequest is the body of conference.CreateConf.
type CreateConfRequest struct {
	MaxMember      int    `json:"maxmember,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ConfRequest is the body of every method that takes only a confid:
// DismissConf, QueryConfState, GetConf, ConfRecord, ConfStopRecord,
// AuthorizeWatch.
type ConfRequest struct {
	ConfID string `json:"confid"`
}

// InviteJoinConfRequest is the body of conference.InviteJoinConf.
type InviteJoinConfRequest struct {
	ConfID         string `json:"confid"`
	Number         string `json:"number"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CallRequest is the body of QuitConf, ConfMute and ConfUnMute.
type CallRequest struct {
	ConfID string `json:"confid"`
	CallID string `json:"callid"`
}

// Replies. A successful reply body is the JSON-RPC result itself, so the
// edge passes it through without re-encoding:
//   CreateConf      → "12345678"            (confid string)
//   InviteJoinConf  → "0123…"               (callid string, the first one when several numbers were given)
//   QueryConfState  → ConfState
//   GetConf         → Conference
//   ListOwned       → []string              (confids)
//   everything else → null

// Conference states, as QueryConfState reports them.
const (
	StateWaiting = 0 // created, no member has joined yet
	StateActive  = 1 // at least one member is or was in it and it has not ended
	StateEnding  = 2 // DismissConf accepted, waiting for the platform to end it
)

// ConfState is the result of QueryConfState.
type ConfState struct {
	State int `json:"state"`
	Count int `json:"count"`
}

// Member states.
const (
	MemberRinging = "ringing"
	MemberJoined  = "joined"
	MemberLeft    = "left"
	MemberFailed  = "failed"
)

// Member is one call of a conference.
type Member struct {
	CallID  string `json:"callid"`
	Number  string `json:"number"`
	State   string `json:"state"`
	Result  int    `json:"result,omitempty"` // platform result when failed
	Muted   bool   `json:"muted,omitempty"`
	Invited string `json:"invitetime,omitempty"` // yyyyMMddHHmmss
	Joined  string `json:"jointime,omitempty"`
	Left    string `json:"quittime,omitempty"`
}

// Conference is the result of GetConf: the service's view of one conference.
type Conference struct {
	ConfID    string   `json:"confid"`
	Owner     string   `json:"owner"`
	State     int      `json:"state"`
	Count     int      `json:"count"`
	MaxMember int      `json:"maxmember"`
	Created   string   `json:"createtime"` // yyyyMMddHHmmss
	Recording bool     `json:"recording,omitempty"`
	LastSeq   uint64   `json:"seq"` // last event sequence applied
	Members   []Member `json:"members"`
}

// OwnedNotice is published on OwnedSubjectPrefix+clientID.
type OwnedNotice struct {
	ConfID string `json:"confid"`
}

// SessionNotice is published on SessionSubjectPrefix+clientID.
type SessionNotice struct {
	Edge string `json:"edge"` // the publishing edge's instance id
	Conn string `json:"conn"` // the new connection's id
	// At is when the new connection arrived (Unix nanoseconds): an edge
	// replaces only a local session that arrived earlier. 0 = unknown.
	At int64 `json:"at,omitempty"`
}
