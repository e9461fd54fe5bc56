package conference

import (
	"errors"
	"slices"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"
)

// TestMemberTransitions: each transition of member.go, from each state.
func TestMemberTransitions(t *testing.T) {
	cases := []struct {
		name   string
		from   string
		kind   string
		result *int
		want   string
	}{
		{"invite result 0 joins", contract.MemberInvited, contract.KindInvite, intp(0), contract.MemberJoined},
		{"join notification 0 joins", contract.MemberInvited, contract.KindJoined, intp(0), contract.MemberJoined},
		{"invite result without result rings", contract.MemberInvited, contract.KindInvite, nil, contract.MemberRinging},
		{"join notification without result rings", contract.MemberInvited, contract.KindJoined, nil, contract.MemberRinging},
		{"invite failure fails", contract.MemberInvited, contract.KindInvite, intp(1), contract.MemberFailed},
		{"join failure fails", contract.MemberInvited, contract.KindJoined, intp(3), contract.MemberFailed},
		{"ringing then 0 joins", contract.MemberRinging, contract.KindJoined, intp(0), contract.MemberJoined},
		{"ringing then failure fails", contract.MemberRinging, contract.KindInvite, intp(2), contract.MemberFailed},
		{"ringing stays ringing on another result-less one", contract.MemberRinging, contract.KindInvite, nil, contract.MemberRinging},
		{"quit of invited leaves", contract.MemberInvited, contract.KindQuit, nil, contract.MemberLeft},
		{"quit of ringing leaves", contract.MemberRinging, contract.KindQuit, nil, contract.MemberLeft},
		{"quit of joined leaves", contract.MemberJoined, contract.KindQuit, nil, contract.MemberLeft},
		{"joined ignores a result-less one", contract.MemberJoined, contract.KindInvite, nil, contract.MemberJoined},
		{"joined ignores a late failure", contract.MemberJoined, contract.KindInvite, intp(1), contract.MemberJoined},
		{"failed is final", contract.MemberFailed, contract.KindJoined, intp(0), contract.MemberFailed},
		{"failed stays failed on quit", contract.MemberFailed, contract.KindQuit, nil, contract.MemberFailed},
		{"left is final", contract.MemberLeft, contract.KindJoined, intp(0), contract.MemberLeft},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRec()
			r.Members[callA] = &member{Number: "13800000000", State: c.from}
			_ = apply(r, ev(1, c.kind, callA, c.result))
			if got := r.Members[callA].State; got != c.want {
				t.Fatalf("%s + %s(result %v) → %s, want %s", c.from, c.kind, deref(c.result), got, c.want)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return "none"
	}
	return *p
}

// TestResultlessCallbackNeverJoins: an invite result without "result"
// (confid, callid, jointime and number only) neither joins the member nor activates
// the conference nor counts it; the join notification with 0 does.
func TestResultlessCallbackNeverJoins(t *testing.T) {
	r := newRec()
	r.Members[callA] = &member{Number: "13800000000", State: contract.MemberInvited}
	if err := apply(r, ev(1, contract.KindInvite, callA, nil)); err != nil {
		t.Fatal(err)
	}
	if m := r.Members[callA]; m.State != contract.MemberRinging || m.Joined != "" || r.count() != 0 || r.State != contract.StateWaiting {
		t.Fatalf("after a result-less invite result: member %+v, count %d, state %d", m, r.count(), r.State)
	}
	if err := apply(r, ev(2, contract.KindJoined, callA, intp(0))); err != nil {
		t.Fatal(err)
	}
	if m := r.Members[callA]; m.State != contract.MemberJoined || m.Joined == "" || r.count() != 1 || r.State != contract.StateActive {
		t.Fatalf("after the join notification: member %+v, count %d, state %d", m, r.count(), r.State)
	}
}

// TestMemberOrderings: every order of an invitation's callbacks, each also
// duplicated, ends in the same state (late, duplicated and reversed
// deliveries).
func TestMemberOrderings(t *testing.T) {
	type step struct {
		kind   string
		result *int
	}
	histories := []struct {
		name  string
		steps []step
		want  string
	}{
		{"answered, left", []step{{contract.KindInvite, intp(0)}, {contract.KindJoined, intp(0)}, {contract.KindQuit, nil}}, contract.MemberLeft},
		{"no result: result-less invite, join, quit", []step{{contract.KindInvite, nil}, {contract.KindJoined, intp(0)}, {contract.KindQuit, nil}}, contract.MemberLeft},
		{"no result: result-less invite, join", []step{{contract.KindInvite, nil}, {contract.KindJoined, intp(0)}}, contract.MemberJoined},
		{"no result: busy (result-less invite only)", []step{{contract.KindInvite, nil}}, contract.MemberRinging},
		{"busy", []step{{contract.KindInvite, intp(1)}}, contract.MemberFailed},
		{"busy reported twice, once without result", []step{{contract.KindInvite, nil}, {contract.KindInvite, intp(1)}}, contract.MemberFailed},
	}
	for _, h := range histories {
		for _, perm := range permutations(len(h.steps)) {
			for _, dup := range []bool{false, true} {
				r := newRec()
				r.Members[callA] = &member{Number: "13800000000", State: contract.MemberInvited}
				var seq uint64
				for _, i := range perm {
					for range 1 + boolInt(dup) {
						seq++
						if err := apply(r, ev(seq, h.steps[i].kind, callA, h.steps[i].result)); err != nil && !errors.Is(err, errSkip) {
							t.Fatal(err)
						}
					}
				}
				if got := r.Members[callA].State; got != h.want {
					t.Errorf("%s, order %v, duplicated %v: %s, want %s", h.name, perm, dup, got, h.want)
				}
				joinedSeen := slices.ContainsFunc(h.steps, func(s step) bool { return s.result != nil && *s.result == 0 })
				if joinedSeen != (r.Members[callA].Joined != "") || joinedSeen != (r.State == contract.StateActive) {
					t.Errorf("%s, order %v: jointime %q, conference state %d, want joined evidence %v",
						h.name, perm, r.Members[callA].Joined, r.State, joinedSeen)
				}
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

// TestQuitOfAnInvitationWithoutOutcome: an invitation reported without a
// result stays ringing and holds its place under maxmember; QuitConf of
// it, which the platform answers "call not found" (110027, the call is
// long over), settles it as left and frees the place.
func TestQuitOfAnInvitationWithoutOutcome(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	confID := e.create("alice", 3)
	var calls []string
	for _, n := range []string{ytxsim.NumberBusy, "13912345601", "13912345602"} {
		calls = append(calls, e.invite("alice", confID, n))
	}
	e.clock.Advance(3 * time.Second) // the busy call fails at the platform
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: calls[0], Number: ytxsim.NumberBusy, Time: "20261128120000"})
	testkit.Eventually(t, "the busy call ringing", 10*time.Second, func() bool {
		m, ok := findMember(e.getConf("alice", confID), calls[0])
		return ok && m.State == contract.MemberRinging
	})
	// Full: three places, three live members.
	e.fails(contract.CodeLimit, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345603"})

	e.must(contract.MethodQuitConf, "alice", contract.CallRequest{ConfID: confID, CallID: calls[0]})
	if m, _ := findMember(e.getConf("alice", confID), calls[0]); m.State != contract.MemberLeft {
		t.Fatalf("after QuitConf: %+v, want left", m)
	}
	e.invite("alice", confID, "13912345603")
}
