package e2e

import (
	"testing"
	"time"

	"confapplet/pkg/contract"
)

// TestInviteResultWithoutResult: the platform sends the invitation result
// with the fields confid, callid, jointime and number only (no "result").
// The browser then sees OnConfInviteJoin result -1 (never 0) for both
// invitations; the answered one becomes joined only with the join
// notification's explicit 0, the busy one is never shown joined, and
// GetConf agrees (ringing vs joined, count 1).
func TestInviteResultWithoutResult(t *testing.T) {
	st := newStack(t, func(s *stack) { s.inviteWithoutResult = true })
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	good, bad, results := inviteAnsweringAndBusy(t, st, alice, confID)
	if r := results[good]; len(r) != 2 || r[0] != contract.ResultPending || r[1] != 0 {
		t.Errorf("answered call: results %v, want [-1 0]", r)
	}
	if r := results[bad]; len(r) != 1 || r[0] != contract.ResultPending {
		t.Errorf("busy call: results %v, want [-1]", r)
	}
	alice.quiet(300 * time.Millisecond)

	var conf contract.Conference
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := alice.c.Call(alice.ctx(), contract.MethodGetConf, map[string]string{"confid": confID}, &conf); err != nil {
			t.Fatal(err)
		}
		if conf.LastSeq >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	states := map[string]string{}
	for _, m := range conf.Members {
		states[m.CallID] = m.State
	}
	if states[good] != contract.MemberJoined || states[bad] != contract.MemberRinging || conf.Count != 1 {
		t.Fatalf("GetConf: states %v count %d, want %s joined, %s ringing, count 1", states, conf.Count, good, bad)
	}
}
