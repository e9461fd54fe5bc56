package observetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"
	"confapplet/pkg/token"
	"confapplet/pkg/ytxsim"
)

// The numbers dialled, and the simulator's rules for them (PUT
// /_sim/rules): short delays, so the test takes seconds.
const (
	numHangsUp  = "13912340001" // answers, hangs up 2 s later
	numStays    = "13912340002" // answers, stays until the conference ends
	numBusy     = ytxsim.NumberBusy
	numNoAnswer = ytxsim.NumberNoAnswer
	numInvalid  = ytxsim.NumberInvalid
	hangupAfter = 2 * time.Second
)

var simRules = fmt.Sprintf(`[
 {"pattern": "^%s$", "outcome": "busy", "delay": "1s"},
 {"pattern": "^%s$", "outcome": "noanswer", "delay": "2s"},
 {"pattern": "^%s$", "outcome": "invalid"},
 {"pattern": "^%s$", "outcome": "answer", "hangup_after": "%s"},
 {"pattern": ".", "outcome": "answer"}]`, numBusy, numNoAnswer, numInvalid, numHangsUp, hangupAfter)

// traffic is what drive did: the conference, its owner, the simulator's
// calls just before the dismissal, and when it was dismissed.
type traffic struct {
	confID, owner string
	dialled       []ytxsim.MemberSnapshot
	dismissed     time.Time
	deleted       time.Time // the record was gone by then
}

func dialClient(ctx context.Context, st *teststack.Stack, id, key string) (*client.Client, error) {
	return client.Dial(ctx, st.Edges[0].WS(), id, client.WithTokenSource(func(context.Context) (string, error) {
		return token.Sign(key, "", token.New(id, time.Now(), time.Hour))
	}))
}

func drive(ctx context.Context, t *testing.T, st *teststack.Stack) traffic {
	t.Helper()
	httpDo(ctx, t, http.MethodPut, st.Sim.URL()+"/_sim/rules", simRules, nil)
	if _, err := dialClient(ctx, st, "mallory", "not-the-key"); err == nil {
		t.Fatal("a token signed with another key was accepted")
	}
	tr := traffic{owner: "alice"}
	b, err := dialClient(ctx, st, tr.owner, tokenKey)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if tr.confID, err = b.CreateConf(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{numStays, numHangsUp, numBusy, numNoAnswer, numInvalid} {
		if _, err := b.InviteJoinConf(ctx, tr.confID, n); err != nil {
			t.Fatalf("invite %s: %v", n, err)
		}
	}
	var ce *client.RPCError
	if _, err := b.InviteJoinConf(ctx, tr.confID, "110"); !errors.As(err, &ce) || ce.Name() != contract.CodeNumberRefused {
		t.Fatalf("a short code was not refused by the guard: %v", err)
	}
	// Settled: one joined, one left, three failed.
	testkit.Eventually(t, "calls settled", 30*time.Second, func() bool {
		c, err := b.GetConf(ctx, tr.confID)
		if err != nil {
			return false
		}
		n := map[string]int{}
		for _, m := range c.Members {
			n[m.State]++
		}
		return n[contract.MemberJoined] == 1 && n[contract.MemberLeft] == 1 && n[contract.MemberFailed] == 3
	})
	var confs []ytxsim.ConfSnapshot
	httpDo(ctx, t, http.MethodGet, st.Sim.URL()+"/_sim/confs", "", &confs)
	for _, c := range confs {
		if c.ConfID == tr.confID {
			tr.dialled = c.Members
		}
	}
	// Its call log (every number dialled) and the conference agree.
	var log []ytxsim.CallRecord
	httpDo(ctx, t, http.MethodGet, st.Sim.URL()+"/_sim/calls", "", &log)
	var logged []string
	for _, c := range log {
		if c.ConfID == tr.confID {
			logged = append(logged, c.CallSid)
		}
	}
	if len(tr.dialled) != 5 || len(logged) != 5 {
		t.Fatalf("the simulator shows %d calls in %s and logged %d, want 5", len(tr.dialled), tr.confID, len(logged))
	}
	for _, m := range tr.dialled {
		if !slices.Contains(logged, m.CallSid) {
			t.Fatalf("call %s of the conference is not in the simulator's call log", m.CallSid)
		}
	}
	tr.dismissed = time.Now()
	if err := b.DismissConf(ctx, tr.confID); err != nil {
		t.Fatal(err)
	}
	// The platform deletes it; svc-conference archives the record and
	// removes it.
	testkit.Eventually(t, "conference deleted", 30*time.Second, func() bool {
		_, err := b.GetConf(ctx, tr.confID)
		return errors.As(err, &ce) && ce.Name() == contract.CodeConfNotFound
	})
	tr.deleted = time.Now()
	return tr
}

// httpDo sends body (if any) and decodes a JSON answer into out (if set).
func httpDo(ctx context.Context, t *testing.T, method, url, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
}
