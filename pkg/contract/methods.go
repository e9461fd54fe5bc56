package contract

import (
	"regexp"
	"time"
)

// Method names of the JSON-RPC protocol (docs/protocol.md): the
// conference commands, the edge's own watch methods and the two internal
// methods.
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
	// MethodRefreshToken renews the connection token of an open
	// connection (docs/protocol.md §1.2a); the edge serves it.
	MethodRefreshToken = "RefreshToken"

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
	KindToken                        // JSON string: a JWT (base64url segments joined by '.'), at most 8192 characters
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

// Server is the service that serves a method.
type Server int

const (
	// ServedByConference: the edge forwards the call to
	// ServiceSubject(Name) and passes the reply through.
	ServedByConference Server = iota + 1
	// ServedByEdge: the edge serves the call itself (after asking the
	// conference service for authorization).
	ServedByEdge
)

// Work is what serving a method involves on the conference service; it
// decides which of the service's two worker pools runs it, so that slow
// platform calls and a storm of cheap reads never queue behind each other.
type Work int

const (
	// ReadsState: only reads the conference state (the read pool).
	ReadsState Work = iota + 1
	// CallsPlatform: may call the telephony platform (the platform pool,
	// sized for the platform's latency).
	CallsPlatform
)

// Method describes one method of the protocol: a JSON-RPC method browsers
// call, or an internal one only the edge calls on the conference service.
type Method struct {
	Name   string
	Params []Param
	Server Server
	// Work picks the conference service's pool (ServedByConference only).
	Work Work
	// Inline methods are answered in micro's handler goroutine, without a
	// pool, when the service's in-memory view holds the record asked for
	// (ServedByConference only).
	Inline bool
	// Internal methods are called by the edge only; browsers cannot.
	Internal bool
	// Timeout is the default deadline of the call (0: the caller's
	// default); the edge lets operators override it per method.
	Timeout time.Duration
}

// ParamIdempotencyKey is the optional named param that makes a retried
// CreateConf or InviteJoinConf return the first request's result instead of
// creating or dialling again (docs/protocol.md, section 2).
const ParamIdempotencyKey = "idempotency_key"

var (
	confID = Param{Name: "confid", Kind: KindConfID, Positional: true}
	callID = Param{Name: "callid", Kind: KindCallID, Positional: true}
	idem   = Param{Name: ParamIdempotencyKey, Kind: KindKey, Optional: true}
)

// MethodTable is every method of the protocol, in the order of
// docs/protocol.md: the edge's dispatch and the conference service's
// endpoints, pools and inline reads are built from it.
var MethodTable = []Method{
	// The commands each call the platform.
	{Name: MethodCreateConf, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{
		{Name: "maxmember", Kind: KindInt, Optional: true}, idem}},
	{Name: MethodDismissConf, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID}},
	{Name: MethodInviteJoinConf, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{
		confID, {Name: "number", Kind: KindNumbers, Positional: true}, idem}},
	{Name: MethodQuitConf, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	// QueryConfState only reads the record, as GetConf does (a confid the
	// service never created is not asked of the platform): the read pool,
	// or inline.
	{Name: MethodQueryConfState, Server: ServedByConference, Work: ReadsState, Inline: true, Timeout: 5 * time.Second,
		Params: []Param{confID}},
	// GetConf only reads the record: the read pool, or inline.
	{Name: MethodGetConf, Server: ServedByConference, Work: ReadsState, Inline: true, Timeout: 5 * time.Second, Params: []Param{confID}},
	{Name: MethodConfMute, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	{Name: MethodConfUnMute, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID, callID}},
	{Name: MethodConfRecord, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID}},
	{Name: MethodConfStopRecord, Server: ServedByConference, Work: CallsPlatform, Timeout: 10 * time.Second, Params: []Param{confID}},
	// The watches are the edge's: it subscribes the session to the
	// conference's events after AuthorizeWatch.
	{Name: MethodWatchConf, Server: ServedByEdge, Timeout: 5 * time.Second, Params: []Param{
		confID, {Name: "since", Kind: KindSeq, Optional: true, Positional: true}}},
	{Name: MethodUnwatchConf, Server: ServedByEdge, Timeout: 5 * time.Second, Params: []Param{confID}},
	// The connection's token is the edge's too (docs/protocol.md §1.2a).
	{Name: MethodRefreshToken, Server: ServedByEdge, Timeout: 5 * time.Second, Params: []Param{
		{Name: "token", Kind: KindToken, Positional: true}}},
	// The internal reads come in storms (every browser reconnecting after
	// an edge restart), so they have the read pool to themselves rather
	// than queue behind platform calls. ListOwned lists an owners key, not
	// one record of the view, so it is never inline.
	{Name: MethodListOwned, Server: ServedByConference, Work: ReadsState, Internal: true},
	{Name: MethodAuthorizeWatch, Server: ServedByConference, Work: ReadsState, Inline: true, Internal: true, Params: []Param{confID}},
}

// Methods is every method a browser may call (MethodTable without the
// internal ones), by name.
var Methods = func() map[string]Method {
	m := map[string]Method{}
	for _, spec := range MethodTable {
		if !spec.Internal {
			m[spec.Name] = spec
		}
	}
	return m
}()

// Formats of identifiers, as docs/protocol.md (section 3) states them. The
// services check them with ValidConfID and its siblings (ids.go), which
// TestValidatorsMatchPatterns keeps equal to these.
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
//   AuthorizeWatch  → null, or WatchAuthorization for a conference that has ended
//   everything else → null

// WatchAuthorization is AuthorizeWatch's result for a conference that has
// ended (a live one answers null): the edge replays its stored events and
// then ends the watch, as nothing more will come.
type WatchAuthorization struct {
	Ended bool `json:"ended,omitempty"`
}

// WatchConfResult is WatchConf's result and OnConfWatch's params: the
// conference and the last seq stored for it when the watch started.
type WatchConfResult struct {
	ConfID string `json:"confid"`
	Seq    uint64 `json:"seq"`
}

// Conference states, as QueryConfState reports them.
const (
	StateWaiting = 0 // created, no member has joined yet
	StateActive  = 1 // at least one member is or was in it and it has not ended
	StateEnding  = 2 // DismissConf accepted, waiting for the platform to end it
)

// ConfState is the result of QueryConfState.
type ConfState struct {
	State int `json:"state" enum:"0,1,2"`
	Count int `json:"count"`
}

// Member states (svc-conference/conference/member.go is the state machine):
// invited → ringing? → joined | failed | left. A member is joined only on a
// callback with an explicit result 0.
const (
	MemberInvited = "invited" // InviteJoinConf accepted; nothing heard since
	MemberRinging = "ringing" // the platform reported on the call without an outcome
	MemberJoined  = "joined"
	MemberLeft    = "left"
	MemberFailed  = "failed"
)

// Member is one call of a conference.
type Member struct {
	CallID  string `json:"callid"`
	Number  string `json:"number"`
	State   string `json:"state" enum:"invited,ringing,joined,left,failed"`
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
	State     int      `json:"state" enum:"0,1,2"`
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
