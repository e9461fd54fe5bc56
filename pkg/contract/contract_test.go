package contract

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTableCodesUniqueAndOutsideReservedRangeForApplication(t *testing.T) {
	seenRPC := map[int]Code{}
	for _, s := range Table {
		if prev, dup := seenRPC[s.RPC]; dup {
			t.Errorf("JSON-RPC code %d used by %s and %s", s.RPC, prev, s.Code)
		}
		seenRPC[s.RPC] = s.Code
		reserved := s.RPC >= -32768 && s.RPC <= -32000
		standard := s.RPC <= -32600 && s.RPC >= -32700
		transport := s.Code == CodeUnavailable || s.Code == CodeTimeout || s.Code == CodeBusy
		if reserved && !standard && !transport {
			t.Errorf("%s uses reserved code %d", s.Code, s.RPC)
		}
	}
	if got := Spec("no-such-code").RPC; got != -32603 {
		t.Errorf("unknown code maps to %d, want -32603", got)
	}
	if got := Spec(CodeConfNotFound).RPC; got != 1001 {
		t.Errorf("conf_not_found maps to %d", got)
	}
}

func TestConfIDFromEventsSubject(t *testing.T) {
	for subj, want := range map[string]string{
		"conf.12345678.events":  "12345678",
		"conf.1.2.events":       "",
		"conf.12345678.other":   "",
		"other.12345678.events": "",
	} {
		if got := ConfIDFromEventsSubject(subj); got != want {
			t.Errorf("%q → %q, want %q", subj, got, want)
		}
	}
	if EventsSubject("1234") != "conf.1234.events" {
		t.Error("EventsSubject")
	}
}

func TestNotificationUsesSeedNames(t *testing.T) {
	one, zero := 1, 0
	cases := []struct {
		ev     Event
		method string
		want   string
	}{
		{Event{Kind: KindCreated, ConfID: "1234", Time: "20161228153000", Seq: 1}, NotifyCreate,
			`{"callid":"","confid":"1234","createtime":"20161228153000","seq":1}`},
		{Event{Kind: KindInvite, ConfID: "1234", CallID: "c", Number: "139", Result: &one, Time: "t", Seq: 2}, NotifyInviteJoin,
			`{"callid":"c","confid":"1234","jointime":"t","number":"139","outcome":"failed","result":1,"seq":2}`},
		{Event{Kind: KindJoined, ConfID: "1234", CallID: "c", Number: "139", Result: &zero, Time: "t", Seq: 3}, NotifyInviteJoin,
			`{"callid":"c","confid":"1234","jointime":"t","number":"139","outcome":"joined","result":0,"seq":3}`},
		// No result: never 0, whatever the kind.
		{Event{Kind: KindJoined, ConfID: "1234", CallID: "c", Number: "139", Time: "t", Seq: 3}, NotifyInviteJoin,
			`{"callid":"c","confid":"1234","jointime":"t","number":"139","outcome":"pending","result":-1,"seq":3}`},
		{Event{Kind: KindInvite, ConfID: "1234", CallID: "c", Number: "139", Time: "t", Seq: 3}, NotifyInviteJoin,
			`{"callid":"c","confid":"1234","jointime":"t","number":"139","outcome":"pending","result":-1,"seq":3}`},
		{Event{Kind: KindQuit, ConfID: "1234", CallID: "c", Number: "139", Time: "t", Seq: 4}, NotifyQuit,
			`{"callid":"c","confid":"1234","jointime":"t","number":"139","seq":4}`},
		{Event{Kind: KindDeleted, ConfID: "1234", Time: "t", Seq: 5}, NotifyDel, `{"confid":"1234","deltime":"t","seq":5}`},
		{Event{Kind: KindDismissed, ConfID: "1234", Status: &zero, Seq: 6}, NotifyDismiss, `{"confid":"1234","seq":6,"status":0}`},
		{Event{Kind: KindMedia, ConfID: "1234", CallID: "c", Media: map[string]string{"notifytype": "4", "seq": "x"}, Seq: 7}, NotifyMedia,
			`{"callid":"c","confid":"1234","notifytype":"4","result":0,"seq":7}`},
	}
	for _, c := range cases {
		m, p := c.ev.Notification()
		b, _ := json.Marshal(p)
		if m != c.method || string(b) != c.want {
			t.Errorf("%s: got %s %s, want %s %s", c.ev.Kind, m, b, c.method, c.want)
		}
	}
}

func TestValidatorsMatchPatterns(t *testing.T) {
	for _, s := range []string{"", "123", "1234", "12345678", "123456789", "12a4", "0123456789abcdef0123456789ABCDEF",
		"0123456789abcdef0123456789ABCDE!", "0123456789abcdef0123456789ABCDEFG", "k", "a b", "\x7f", strings.Repeat("k", 128), strings.Repeat("k", 129)} {
		if ValidConfID(s) != ConfIDPattern.MatchString(s) || ValidCallID(s) != CallIDPattern.MatchString(s) || ValidKey(s) != KeyPattern.MatchString(s) {
			t.Errorf("pattern mismatch for %q", s)
		}
	}
	for _, id := range []string{"a", "alice_1-B", string(make([]byte, 65)), "", "al ice", "é", "a.b"} {
		if ValidClientID(id) != ClientIDPattern.MatchString(id) {
			t.Errorf("ValidClientID(%q) disagrees with the pattern", id)
		}
	}
}

func TestErrorLookups(t *testing.T) {
	for _, s := range Table {
		if got, ok := SpecOfRPC(s.RPC); !ok || got != s {
			t.Errorf("SpecOfRPC(%d) = %+v %v, want %+v", s.RPC, got, ok, s)
		}
	}
	if _, ok := SpecOfRPC(42); ok {
		t.Error("SpecOfRPC(42) found a row")
	}
}

// Every method of the table is consistent: who serves it says what else
// must be set, and Methods is the table's public part.
func TestMethodTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range MethodTable {
		if seen[m.Name] {
			t.Errorf("%s twice", m.Name)
		}
		seen[m.Name] = true
		switch m.Server {
		case ServedByConference:
			if m.Work != ReadsState && m.Work != CallsPlatform {
				t.Errorf("%s: served by the conference service without a pool", m.Name)
			}
		case ServedByEdge:
			if m.Work != 0 || m.Inline || m.Internal {
				t.Errorf("%s: served by the edge with conference-service settings", m.Name)
			}
		default:
			t.Errorf("%s: no server", m.Name)
		}
		if _, public := Methods[m.Name]; public == m.Internal {
			t.Errorf("%s: internal %v but in Methods %v", m.Name, m.Internal, public)
		}
	}
	if len(Methods)+2 != len(MethodTable) {
		t.Errorf("%d public methods of %d", len(Methods), len(MethodTable))
	}
}

func TestClosesHaveReasonAndLabel(t *testing.T) {
	for _, code := range []int{CloseGoingAway, CloseBadText, CloseTooBig, CloseReplaced, CloseSlowConsumer, CloseNoPong, CloseServerFailure, CloseTokenExpired} {
		if c := Closes[code]; c.Reason == "" || c.Label == "" || len(c.Reason) > 123 {
			t.Errorf("close %d: %+v", code, c)
		}
	}
}
