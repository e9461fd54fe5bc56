package contract

// The params of every notification the edge pushes, as Go types. The edge
// sends Event.Notification's map; these types say the same with names and
// JSON types, so that clients in other languages can be generated from the
// contract (pkg/contract/jsgen). TestNotificationParamsMatchEvents keeps the
// two equal. A field tagged omitempty may be absent.

// CreateParams are OnConfCreate's params.
type CreateParams struct {
	ConfID     string `json:"confid"`
	Seq        uint64 `json:"seq"`
	CallID     string `json:"callid"`     // the creating call's id; "" for conferences created from the web
	CreateTime string `json:"createtime"` // yyyyMMddHHmmss
}

// InviteJoinParams are OnConfInviteJoin's params.
type InviteJoinParams struct {
	ConfID   string `json:"confid"`
	Seq      uint64 `json:"seq"`
	CallID   string `json:"callid"`
	Number   string `json:"number"`
	JoinTime string `json:"jointime"` // yyyyMMddHHmmss
	// Result is 0 (joined), the platform's failure code (> 0) or
	// ResultPending (-1: reported without an outcome).
	Result  int    `json:"result"`
	Outcome string `json:"outcome" enum:"joined,failed,pending"`
}

// QuitParams are OnConfQuit's params.
type QuitParams struct {
	ConfID string `json:"confid"`
	Seq    uint64 `json:"seq"`
	CallID string `json:"callid"`
	Number string `json:"number"`
	// JoinTime keeps the original protocol's name but holds the time the
	// member left (yyyyMMddHHmmss).
	JoinTime string `json:"jointime"`
}

// DelParams are OnConfDel's params.
type DelParams struct {
	ConfID  string `json:"confid"`
	Seq     uint64 `json:"seq"`
	DelTime string `json:"deltime"` // yyyyMMddHHmmss
}

// DismissParams are OnConfDismiss's params.
type DismissParams struct {
	ConfID string `json:"confid"`
	Seq    uint64 `json:"seq"`
	Status int    `json:"status"` // 0 = dismissed, else the platform's failure code
}

// MediaParams are OnConfMedia's params: the result, and the platform's
// media fields passed through as strings (Open: others may come).
type MediaParams struct {
	ConfID         string `json:"confid"`
	Seq            uint64 `json:"seq"`
	CallID         string `json:"callid,omitempty"` // when the operation concerned one member
	Result         int    `json:"result"`           // 0 = success
	NotifyType     string `json:"notifytype,omitempty"`
	State          string `json:"state,omitempty"`
	RecordURL      string `json:"recordurl,omitempty"`
	RecordDuration string `json:"recordduration,omitempty"`
}

// EventsLostParams are OnConfEventsLost's params: events From…To
// (inclusive) of the conference can no longer be delivered.
type EventsLostParams struct {
	ConfID string `json:"confid"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
}

// NotificationSpec is one notification method and its params type.
type NotificationSpec struct {
	Name string
	// Params is a zero value of the params type.
	Params any
	// Event: the notification carries an event with a seq (the others are
	// the edge's notices about the watch).
	Event bool
	// Open: params may carry more fields than Params names.
	Open bool
}

// NotificationTable is every notification of docs/protocol.md section 5,
// in its order.
var NotificationTable = []NotificationSpec{
	{Name: NotifyCreate, Params: CreateParams{}, Event: true},
	{Name: NotifyInviteJoin, Params: InviteJoinParams{}, Event: true},
	{Name: NotifyQuit, Params: QuitParams{}, Event: true},
	{Name: NotifyDel, Params: DelParams{}, Event: true},
	{Name: NotifyDismiss, Params: DismissParams{}, Event: true},
	{Name: NotifyMedia, Params: MediaParams{}, Event: true, Open: true},
	{Name: NotifyWatch, Params: WatchConfResult{}},
	{Name: NotifyEventsLost, Params: EventsLostParams{}},
}

// Results maps every method a browser may call to a zero value of its
// result type; nil is a null result.
var Results = map[string]any{
	MethodCreateConf:     ConfIDResult(""),
	MethodDismissConf:    nil,
	MethodInviteJoinConf: CallIDResult(""),
	MethodQuitConf:       nil,
	MethodQueryConfState: ConfState{},
	MethodGetConf:        Conference{},
	MethodConfMute:       nil,
	MethodConfUnMute:     nil,
	MethodConfRecord:     nil,
	MethodConfStopRecord: nil,
	MethodWatchConf:      WatchConfResult{},
	MethodUnwatchConf:    nil,
	MethodRefreshToken:   RefreshTokenResult{},
}

// ConfIDResult is CreateConf's result: the new conference's id.
type ConfIDResult string

// CallIDResult is InviteJoinConf's result: the invitation's call id (the
// first one when several numbers were given).
type CallIDResult string

// RefreshTokenResult is RefreshToken's result.
type RefreshTokenResult struct {
	Exp int64 `json:"exp"` // the new token's expiry, Unix seconds; 0 = the edge checks no tokens
}

// UnauthorizedData is error.data of CodeUnauthorized: why the token was
// refused (the texts of the HTTP 401 bodies, docs/protocol.md §1.2a).
type UnauthorizedData struct {
	Reason string `json:"reason"`
}

// RateLimitData is error.data of CodeRateLimited: which limit refused the
// request (the call budget names it in Limit, the invitation rates say
// Scope) and when to try again.
type RateLimitData struct {
	Limit        string `json:"limit,omitempty" enum:"calls_per_minute,conferences_per_minute,live_calls,source_calls_per_minute,source_conferences_per_minute"`
	Scope        string `json:"scope,omitempty" enum:"client,global"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

// ErrorData maps the codes whose error.data has a fixed shape to a zero
// value of it.
var ErrorData = map[Code]any{
	CodeRateLimited:  RateLimitData{},
	CodePlatform:     PlatformErrorData{},
	CodeUnauthorized: UnauthorizedData{},
}
