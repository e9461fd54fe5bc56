package ytxsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

// TestConcurrentConferences runs many conferences at once on the real
// clock, through the client, under -race, and checks that every
// conference's callbacks arrive in causal order: created first, each
// call's invite result before its quit, deleted last.
func TestConcurrentConferences(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]cb{}
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cb{kind: r.URL.Path[len("/yt/s/"):]}
		r.ParseForm()
		c.f = map[string]string{"confid": r.PostForm.Get("confid"), "callSid": r.PostForm.Get("callSid")}
		mu.Lock()
		got[c.f["confid"]] = append(got[c.f["confid"]], c)
		mu.Unlock()
	}))
	defer rx.Close()
	sim := New(Config{NotifyBaseURL: rx.URL + "/yt/s", Format: FormatForm,
		Rules: []Rule{{Pattern: ".", Outcome: OutcomeAnswer, Delay: 5 * time.Millisecond, HangupAfter: 300 * time.Millisecond}}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, _ := yuntongxun.New(yuntongxun.Config{BaseURL: srv.URL + "/" + Version, AccountSID: DefaultAccountSID,
		AuthToken: DefaultAuthToken, AppID: DefaultAppID, Callbacks: testCallbacks})

	const n = 20
	var wg sync.WaitGroup
	confs := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
			if err != nil {
				errs <- err
				return
			}
			confs[i] = res.ConfID
			// Before the invitation: after it, the conference may already
			// be gone on a loaded machine.
			if st, err := c.QueryConfState(ctx, res.ConfID); err != nil || st.Count != 0 {
				errs <- fmt.Errorf("query: %+v %v", st, err)
				return
			}
			if _, err := c.InviteJoinConf(ctx, res.ConfID, fmt.Sprintf("139%08d#139%08d", 2*i, 2*i+1), yuntongxun.InviteOptions{}); err != nil {
				errs <- err
				return
			}

		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every conference ends by itself: both members hang up after 300 ms.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := 0
		for _, id := range confs {
			if l := got[id]; len(l) > 0 && l[len(l)-1].kind == "deleted" {
				done++
			}
		}
		mu.Unlock()
		if done == n && sim.deliveryIdle() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d conferences deleted", done, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range confs {
		l := got[id]
		var kinds []string
		for _, c := range l {
			kinds = append(kinds, c.kind)
		}
		if len(l) != 6 || l[0].kind != "created" || l[5].kind != "deleted" {
			t.Errorf("conf %s: %v", id, kinds)
			continue
		}
		seen := map[string]bool{}
		for _, c := range l[1:5] {
			switch c.kind {
			case "invite":
				seen[c.f["callSid"]] = true
			case "quit":
				if !seen[c.f["callSid"]] {
					t.Errorf("conf %s: quit before invite: %v", id, kinds)
				}
			}
		}
	}
	if len(sim.Calls()) != 2*n || len(sim.Conferences()) != 0 {
		t.Errorf("%d calls, %d conferences left", len(sim.Calls()), len(sim.Conferences()))
	}
}
