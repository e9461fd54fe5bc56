package conference

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"confapplet/pkg/contract"
)

const (
	callA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	callB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	callC = "cccccccccccccccccccccccccccccccc"
)

func intp(i int) *int { return &i }

func ev(seq uint64, kind, call string, result *int, extra ...string) *contract.Event {
	e := &contract.Event{Kind: kind, ConfID: "12345678", CallID: call, Number: "138" + fmt.Sprint(10000000+seq), Result: result, Seq: seq, Time: fmt.Sprintf("202611281200%02d", seq)}
	if len(extra) > 0 {
		e.Media = map[string]string{}
		for i := 0; i+1 < len(extra); i += 2 {
			e.Media[extra[i]] = extra[i+1]
		}
	}
	return e
}

func newRec() *record {
	return &record{V: 1, ConfID: "12345678", Owner: "alice", MaxMember: 10, Members: map[string]*member{}}
}

// states returns callid → state.
func states(r *record) map[string]string {
	m := map[string]string{}
	for id, x := range r.Members {
		m[id] = x.State
	}
	return m
}

func applyAll(t *testing.T, r *record, evs ...*contract.Event) error {
	t.Helper()
	var last error
	for _, e := range evs {
		if err := apply(r, e); err != nil && !errors.Is(err, errSkip) {
			last = err
		}
	}
	return last
}

func TestApplyInOrder(t *testing.T) {
	r := newRec()
	applyAll(t, r,
		ev(1, contract.KindCreated, "", nil),
		ev(2, contract.KindInvite, callA, intp(0)),
		ev(3, contract.KindInvite, callB, intp(2)),
		ev(4, contract.KindQuit, callA, nil),
	)
	want := map[string]string{callA: contract.MemberLeft, callB: contract.MemberFailed}
	if got := states(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	if r.Members[callB].Result != 2 || r.State != contract.StateActive || r.LastSeq != 4 || r.count() != 0 {
		t.Fatalf("record %+v", r)
	}
	if r.Members[callA].Joined == "" || r.Members[callA].Left == "" {
		t.Fatalf("times not kept: %+v", r.Members[callA])
	}
	if err := apply(r, ev(5, contract.KindDismissed, "", nil)); err != nil || r.State != contract.StateEnding {
		t.Fatalf("dismissed: %v %d", err, r.State)
	}
	if err := apply(r, ev(6, contract.KindDeleted, "", nil)); !errors.Is(err, errRemove) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestApplyQuitBeforeJoin(t *testing.T) {
	r := newRec()
	applyAll(t, r, ev(2, contract.KindQuit, callA, nil), ev(1, contract.KindInvite, callA, intp(0)))
	if got := r.Members[callA].State; got != contract.MemberLeft {
		t.Fatalf("quit before join ends as %s", got)
	}
	if r.Members[callA].Joined == "" {
		t.Fatal("join time lost")
	}
	// The same with a joined (joinurl) callback.
	r = newRec()
	applyAll(t, r, ev(2, contract.KindQuit, callA, nil), ev(3, contract.KindJoined, callA, nil))
	if got := r.Members[callA].State; got != contract.MemberLeft {
		t.Fatalf("quit before joined ends as %s", got)
	}
}

func TestApplyDuplicates(t *testing.T) {
	r := newRec()
	applyAll(t, r, ev(1, contract.KindInvite, callA, intp(0)))
	before := fmt.Sprintf("%+v", *r.Members[callA])
	if err := apply(r, ev(1, contract.KindInvite, callA, intp(0))); !errors.Is(err, errSkip) {
		t.Fatalf("duplicate changed the record: %v", err)
	}
	if after := fmt.Sprintf("%+v", *r.Members[callA]); after != before {
		t.Fatalf("duplicate: %s → %s", before, after)
	}
	// Mute, unmute, then the mute redelivered: stays unmuted.
	mute := ev(2, contract.KindMedia, callA, intp(0), "notifytype", "4")
	unmute := ev(3, contract.KindMedia, callA, intp(0), "notifytype", "14")
	applyAll(t, r, mute, unmute, mute)
	if r.Members[callA].Muted {
		t.Fatal("redelivered mute re-muted")
	}
	// Recording: start, stop, start redelivered.
	rec := ev(4, contract.KindMedia, "", intp(0), "notifytype", "2", "state", "2")
	stop := ev(5, contract.KindMedia, "", intp(0), "notifytype", "12", "state", "12")
	applyAll(t, r, rec, stop, rec)
	if r.Recording {
		t.Fatal("redelivered record restarted recording")
	}
	// A failed media operation changes nothing.
	if err := apply(r, ev(6, contract.KindMedia, callA, intp(1), "notifytype", "4")); err != nil && !errors.Is(err, errSkip) {
		t.Fatal(err)
	}
	if r.Members[callA].Muted {
		t.Fatal("failed mute applied")
	}
}

// TestApplyAnyOrder applies one conference's events in every order
// (sampled), each twice, and expects one final state.
func TestApplyAnyOrder(t *testing.T) {
	evs := []*contract.Event{
		ev(1, contract.KindCreated, "", nil),
		ev(2, contract.KindInvite, callA, intp(0)),
		ev(3, contract.KindInvite, callB, intp(0)),
		ev(4, contract.KindInvite, callC, intp(1)),
		ev(5, contract.KindQuit, callA, nil),
		ev(6, contract.KindMedia, callB, intp(0), "notifytype", "4"),
	}
	want := map[string]string{callA: contract.MemberLeft, callB: contract.MemberJoined, callC: contract.MemberFailed}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		all := append(append([]*contract.Event{}, evs...), evs...)
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		r := newRec()
		applyAll(t, r, all...)
		if got := states(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %d: states %v, want %v", i, got, want)
		}
		if r.count() != 1 || r.State != contract.StateActive || r.LastSeq != 6 || !r.Members[callB].Muted {
			t.Fatalf("order %d: record %+v", i, r)
		}
	}
}
