package callback

import (
	"net/http"
	"testing"
)

// TestReplies: conference notifications get the empty IVR command, a REST
// status push (its event named in <action>) the statuscode acknowledgement.
func TestReplies(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	for _, c := range []struct {
		name, kind, body, want string
	}{
		{"conference notification", "created", xmlBody("request", "confid", "2001", "createtime", "20261128103000"), EmptyResponse},
		{"conference notification naming its command", "invite",
			xmlBody("Request", "action", "InviteJoinConf", "confid", "2001", "callSid", callA, "result", "0"), EmptyResponse},
		{"status push shape", "media",
			xmlBody("request", "action", "SellingCall", "confid", "2001", "notifytype", "4", "result", "0"), Ack},
		// The documented push itself has no conference id: it is kept as
		// not understood, and still acknowledged as the platform expects.
		{"status push as documented", "media",
			xmlBody("request", "action", "SellingCall", "number", "13800138000", "callSid", callA, "state", "0", "duration", "30"), Ack},
		{"status push at an unknown path", "sellingcall",
			xmlBody("request", "action", "SellingCall", "number", "13800138000", "callSid", callA, "state", "0"), Ack},
	} {
		code, got := in.post(t, testSecret, c.kind, "text/plain", c.body)
		if code != http.StatusOK || got != c.want {
			t.Errorf("%s: %d %q, want %q", c.name, code, got, c.want)
		}
	}
}
