package contract

import (
	"strings"
	"time"
)

// Kinds of platform callbacks, one svc-callback route each. svc-conference
// passes CallbackPath(kind) as the relative URL of the matching command
// attribute; the platform appends it to the app's notification address.
const (
	KindCreated   = "created"   // CreateConf action
	KindInvite    = "invite"    // InviteJoinConf action (the invitation's result)
	KindJoined    = "joined"    // joinurl
	KindQuit      = "quit"      // quiturl, QuitConf action
	KindDeleted   = "deleted"   // delreporturl, DismissConf delurl
	KindDismissed = "dismissed" // DismissConf action
	KindMedia     = "media"     // mediaopturl, ConfMute/ConfUnMute/ConfRecord… action
)

// CallbackKinds lists every kind.
var CallbackKinds = []string{KindCreated, KindInvite, KindJoined, KindQuit, KindDeleted, KindDismissed, KindMedia}

// CallbackPath is the relative URL given to the platform for kind: the bare
// kind, without a leading "/", so that every way of joining it to the
// notification address keeps that address's path (a leading "/" would, when
// resolved like a link, replace the path and lose the secret).
// docs/yuntongxun.md ("Callback addresses") explains the choice.
func CallbackPath(kind string) string { return kind }

// CallbackURL is the URL given to the platform for kind: CallbackPath(kind)
// when base is empty, else the absolute base + "/" + kind.
func CallbackURL(base, kind string) string {
	if base == "" {
		return CallbackPath(kind)
	}
	return strings.TrimRight(base, "/") + "/" + kind
}

// TimeLayout is the platform's time format (yyyyMMddHHmmss), in
// the platform's time zone (Asia/Shanghai unless configured otherwise).
const TimeLayout = "20060102150405"

// Event is one platform callback as published on EventsSubject(ConfID).
// JSON field names follow the notification params of the original protocol
// (which existing pages read) where one exists.
type Event struct {
	Kind   string `json:"kind"`
	ConfID string `json:"confid"`
	CallID string `json:"callid,omitempty"`
	Number string `json:"number,omitempty"`
	// Result is the platform's result for invite/joined/media (0 = success);
	// Status is DismissConf's status (0 = success).
	Result *int `json:"result,omitempty"`
	Status *int `json:"status,omitempty"`
	// Time is the platform's own event time (yyyyMMddHHmmss): createtime,
	// jointime, quit time, deltime, as the callback carried it.
	Time string `json:"time,omitempty"`
	// Received is when svc-callback accepted the callback.
	Received time.Time `json:"received"`
	// Seq is the per-conference sequence: 1 for a conference's first event,
	// then +1 per event, with no gaps. svc-callback assigns it with an
	// optimistic-concurrency publish (Nats-Expected-Last-Subject-Sequence).
	Seq uint64 `json:"seq"`
	// Media carries mediaopturl fields (notifytype, state, recordurl, …).
	Media map[string]string `json:"media,omitempty"`
}

// Notification method names pushed to browsers.
const (
	NotifyCreate     = "OnConfCreate"
	NotifyInviteJoin = "OnConfInviteJoin"
	NotifyQuit       = "OnConfQuit"
	NotifyDel        = "OnConfDel"
	NotifyDismiss    = "OnConfDismiss"
	NotifyMedia      = "OnConfMedia"
	// NotifyEventsLost tells a browser that events it asked to resume from are no
	// longer stored: params {confid, from, to}; it should call GetConf or
	// QueryConfState to rebuild its view.
	NotifyEventsLost = "OnConfEventsLost"
	// NotifyWatch tells a browser the edge started watching a conference
	// for it (owned ones automatically): params {confid, seq}.
	NotifyWatch = "OnConfWatch"
)

// ResultPending is OnConfInviteJoin's result when the callback reported on
// the call without an outcome (an invite-result notification without
// "result"). The platform's own codes are 0 (success) and positive failure
// codes, so -1 is never mistaken for either, and a client that tests
// result == 0 never shows such a member as joined. It is not final: a later
// OnConfInviteJoin with an explicit result, or OnConfQuit, settles the member.
const ResultPending = -1

// Outcome names OnConfInviteJoin's "outcome" param: what the notification
// says about the member, derived from the explicit result only.
const (
	OutcomeJoined  = "joined"
	OutcomeFailed  = "failed"
	OutcomePending = "pending"
)

// InviteOutcome is what an invite or joined callback with result r proves:
// joined only on an explicit 0.
func InviteOutcome(r *int) string {
	switch {
	case r == nil:
		return OutcomePending
	case *r == 0:
		return OutcomeJoined
	default:
		return OutcomeFailed
	}
}

// Notification returns the JSON-RPC notification of e: its method and its
// params by name with the original protocol's names, plus "seq".
func (e *Event) Notification() (method string, params map[string]any) {
	p := map[string]any{"confid": e.ConfID, "seq": e.Seq}
	result := 0
	if e.Result != nil {
		result = *e.Result
	}
	switch e.Kind {
	case KindCreated:
		method = NotifyCreate
		p["callid"] = e.CallID
		p["createtime"] = e.Time
	case KindInvite, KindJoined:
		method = NotifyInviteJoin
		p["callid"] = e.CallID
		p["number"] = e.Number
		p["jointime"] = e.Time
		// A callback without an explicit result is never reported as 0.
		p["outcome"] = InviteOutcome(e.Result)
		if e.Result == nil {
			result = ResultPending
		}
		p["result"] = result
	case KindQuit:
		method = NotifyQuit
		p["callid"] = e.CallID
		p["number"] = e.Number
		p["jointime"] = e.Time // the original protocol's name, kept for existing pages; it is the time the member left
	case KindDeleted:
		method = NotifyDel
		p["deltime"] = e.Time
	case KindDismissed:
		method = NotifyDismiss
		status := 0
		if e.Status != nil {
			status = *e.Status
		}
		p["status"] = status
	default:
		method = NotifyMedia
		if e.CallID != "" {
			p["callid"] = e.CallID
		}
		p["result"] = result
		for k, v := range e.Media {
			if _, taken := p[k]; !taken {
				p[k] = v
			}
		}
	}
	return method, p
}

// Close codes the edge uses when it closes a WebSocket (docs/protocol.md,
// section 8). 1xxx are RFC 6455's; 4xxx are ours.
const (
	CloseGoingAway     = 1001 // the edge is shutting down: reconnect (to another edge)
	CloseBadText       = 1007 // a text frame that is not UTF-8 (RFC 6455, 8.1): fix the client, reconnect
	CloseTooBig        = 1009 // a frame exceeded the read limit: reconnect
	CloseReplaced      = 4000 // a newer connection with the same client id took over: do not reconnect
	CloseSlowConsumer  = 4001 // the outgoing queue overflowed: reconnect and resume
	CloseNoPong        = 4002 // keep-alive failed
	CloseServerFailure = 4003 // the edge lost NATS for too long, or could not read the event store to replay: reconnect
	CloseTokenExpired  = 4004 // the connection token expired without RefreshToken: reconnect with a fresh token
)

// CloseSpec is one close code's reason text (sent in the close frame) and
// its label in the edge's disconnect metric.
type CloseSpec struct {
	Reason string
	Label  string
}

// Closes is every close code the edge sends, with its reason and label.
var Closes = map[int]CloseSpec{
	CloseGoingAway:     {"edge shutting down", "shutdown"},
	CloseBadText:       {"text frame is not valid UTF-8", "bad_text"},
	CloseTooBig:        {"message too big", "too_big"},
	CloseReplaced:      {"replaced by a newer connection", "replaced"},
	CloseSlowConsumer:  {"slow consumer", "slow"},
	CloseNoPong:        {"no pong", "no_pong"},
	CloseServerFailure: {"edge lost NATS or the events stream", "server_failure"},
	CloseTokenExpired:  {"token expired", "token_expired"},
}
