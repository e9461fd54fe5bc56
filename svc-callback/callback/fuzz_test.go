package callback

import (
	"testing"
	"time"

	"confapplet/pkg/contract"
)

// Whatever the body, parsing never panics, and an accepted body yields an
// event whose identity fields are valid.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		xmlBody("request", "confid", "1001", "callSid", callA, "jointime", "20261128103000", "result", "0"),
		xmlBody("Request", "confid", "1001", "status", "0"),
		`{"Request":{"confid":"1001","deltime":"20261128103000"}}`,
		"confid=1001&notifytype=4&result=0",
		`<!DOCTYPE x><request/>`,
		"\xef\xbb\xbf<request><confid>1234</confid></request>",
		`<request><confid>1</confid><confid>2</confid></request>`,
		`{"confid":1e3}`,
	} {
		f.Add(seed, "invite")
		f.Add(seed, "media")
	}
	loc, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body, kind string) {
		fl, err := parseBody([]byte(body))
		if err != nil {
			return
		}
		ok := false
		for _, k := range contract.CallbackKinds {
			ok = ok || k == kind
		}
		if !ok {
			return
		}
		ev, err := buildEvent(kind, fl, loc, time.Now())
		if err != nil {
			return
		}
		if !contract.ConfIDPattern.MatchString(ev.ConfID) {
			t.Fatalf("accepted confid %q", ev.ConfID)
		}
		if ev.CallID != "" && !contract.CallIDPattern.MatchString(ev.CallID) {
			t.Fatalf("accepted callid %q", ev.CallID)
		}
		if ev.Time != "" {
			if _, err := time.ParseInLocation(contract.TimeLayout, ev.Time, loc); err != nil {
				t.Fatalf("accepted time %q", ev.Time)
			}
		}
		if id := identify(ev); len(id.Key) != 64 || len(id.msgID(3)) != 64 {
			t.Fatalf("identity %+v", id)
		}
	})
}
