package callback

import "strings"

// The two answers the platform documents for what it pushes. Both are
// <Response> documents, so neither can be mistaken for an IVR command with
// something to do.
const (
	// EmptyResponse is the "empty command" that ends an IVR-type
	// notification without further steps: what the conference
	// notifications (every svc-callback kind) are answered with.
	EmptyResponse = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`
	// Ack is the acknowledgement of a REST status push (lowercase
	// "statuscode", as the platform's voice-notification status push
	// documents it).
	Ack = `<?xml version="1.0" encoding="UTF-8"?><Response><statuscode>000000</statuscode></Response>`
)

// replyFor is the body answered to a callback whose fields are f (nil when
// the body was not understood). A body whose "action" field names
// something other than a conference command (every conference command has
// "conf" in its name: CreateConf, InviteJoinConf, ConfMute, …) has the
// envelope of a REST status push (e.g. <action>SellingCall</action>) and
// gets Ack; everything else arrived at a conference command's notification
// URL, which the platform sends as an IVR notification, and gets
// EmptyResponse. docs/yuntongxun.md ("Replies") has the table.
func replyFor(f fields) string {
	action := strings.ToLower(strings.TrimSpace(f["action"]))
	if action != "" && !strings.Contains(action, "conf") {
		return Ack
	}
	return EmptyResponse
}
