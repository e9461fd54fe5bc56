package callback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"
	"confapplet/pkg/yuntongxun"
)

// simRig is the simulator calling back into one svc-callback instance.
type simRig struct {
	sim   *ytxsim.Sim
	clock *ytxsim.FakeClock
	ytx   *yuntongxun.Client
}

func newSimRig(t *testing.T, in *instance, format ytxsim.CallbackFormat) *simRig {
	t.Helper()
	clock := ytxsim.NewFakeClockNow()
	sim := ytxsim.New(ytxsim.Config{
		NotifyBaseURL: in.http.URL + "/yt/" + testSecret + "/", // a trailing "/" is trimmed
		Clock:         clock,
		Format:        format,
		RetryBackoff:  time.Second,
		Seed:          1,
	})
	t.Cleanup(sim.Close)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	ytx, err := yuntongxun.New(yuntongxun.Config{
		BaseURL:    hs.URL + "/" + ytxsim.Version,
		AccountSID: ytxsim.DefaultAccountSID, AuthToken: ytxsim.DefaultAuthToken, AppID: ytxsim.DefaultAppID,
		Now: clock.Now,
		Callbacks: yuntongxun.CallbackURLs{
			Created:   contract.CallbackPath(contract.KindCreated),
			Invite:    contract.CallbackPath(contract.KindInvite),
			Quit:      contract.CallbackPath(contract.KindQuit),
			Deleted:   contract.CallbackPath(contract.KindDeleted),
			Dismissed: contract.CallbackPath(contract.KindDismissed),
			Media:     contract.CallbackPath(contract.KindMedia),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &simRig{sim: sim, clock: clock, ytx: ytx}
}

// waitEvents waits until conf has n stored events and returns them.
func (e *env) waitEvents(t *testing.T, conf string, n int) []contract.Event {
	t.Helper()
	var got []contract.Event
	deadline := time.Now().Add(20 * time.Second)
	for got = e.events(conf); len(got) < n; got = e.events(conf) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d events stored, want %d: %+v", conf, len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("%s: %d events, want %d: %+v", conf, len(got), n, got)
	}
	return got
}

func checkKinds(t *testing.T, got []contract.Event, kinds ...string) {
	t.Helper()
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d: seq %d", i, ev.Seq)
		}
		if i < len(kinds) && ev.Kind != kinds[i] {
			t.Errorf("event %d: kind %s, want %s (%+v)", i, ev.Kind, kinds[i], ev)
		}
	}
}

// The simulator's callbacks, in every envelope it can produce, become the
// events of a conference's life: created, invitation results (joined and
// busy), media, quit, deleted; and dismissed.
func TestSimulatorCallbacks(t *testing.T) {
	for _, format := range ytxsim.CallbackFormats {
		t.Run(string(format), func(t *testing.T) {
			e := newEnv(t)
			in := e.start(nil)
			r := newSimRig(t, in, format)
			ctx := context.Background()

			// Conference 1: two invitations (one answers, one is busy),
			// mute twice around an unmute, then the last member quits.
			c1, err := r.ytx.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
			if err != nil {
				t.Fatal(err)
			}
			e.waitEvents(t, c1.ConfID, 1)
			good, err := r.ytx.InviteJoinConf(ctx, c1.ConfID, "13912345678", yuntongxun.InviteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			busy, err := r.ytx.InviteJoinConf(ctx, c1.ConfID, ytxsim.NumberBusy, yuntongxun.InviteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r.clock.Advance(3 * time.Second)
			e.waitEvents(t, c1.ConfID, 3)
			for _, mute := range []bool{true, false, true} {
				f := r.ytx.ConfMute
				if !mute {
					f = r.ytx.ConfUnMute
				}
				if err := f(ctx, c1.ConfID, good.CallSid); err != nil {
					t.Fatal(err)
				}
			}
			e.waitEvents(t, c1.ConfID, 6)
			if err := r.ytx.QuitConf(ctx, c1.ConfID, good.CallSid); err != nil {
				t.Fatal(err)
			}
			got := e.waitEvents(t, c1.ConfID, 8)
			checkKinds(t, got, "created", "invite", "invite", "media", "media", "media", "quit", "deleted")
			results := map[string]int{}
			for _, ev := range got[1:3] {
				if ev.Result == nil || ev.Time == "" || ev.Number == "" {
					t.Fatalf("invite event lacks result/time/number: %+v", ev)
				}
				results[ev.CallID] = *ev.Result
			}
			if results[good.CallSid] != 0 || results[busy.CallSid] == 0 {
				t.Errorf("invite results %v: want 0 for %s and non-0 for busy %s", results, good.CallSid, busy.CallSid)
			}
			if got[0].Time == "" || got[6].CallID != good.CallSid || got[6].Time == "" || got[7].Time == "" {
				t.Errorf("created/quit/deleted: %+v %+v %+v", got[0], got[6], got[7])
			}
			if got[3].Media["notifytype"] == got[4].Media["notifytype"] || got[3].Media["notifytype"] != got[5].Media["notifytype"] {
				t.Errorf("media events: %v %v %v", got[3].Media, got[4].Media, got[5].Media)
			}

			// Conference 2: dismissed with a member in it.
			c2, err := r.ytx.CreateConf(ctx, yuntongxun.CreateConfOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.ytx.InviteJoinConf(ctx, c2.ConfID, "13912345679", yuntongxun.InviteOptions{}); err != nil {
				t.Fatal(err)
			}
			r.clock.Advance(3 * time.Second)
			e.waitEvents(t, c2.ConfID, 2)
			if err := r.ytx.DismissConf(ctx, c2.ConfID, yuntongxun.DismissConfOptions{}); err != nil {
				t.Fatal(err)
			}
			got = e.waitEvents(t, c2.ConfID, 5)
			checkKinds(t, got, "created", "invite", "dismissed", "quit", "deleted")

			for _, d := range r.sim.Deliveries() {
				if d.Status != http.StatusOK || d.Attempt != 1 {
					t.Errorf("delivery %+v", d)
				}
			}
		})
	}
}

// With NATS stopped the simulator's callback gets a non-2xx answer; the
// simulator retries, and once NATS is back the retry is stored, once.
func TestSimulatorRetryAfterNATSOutage(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	r := newSimRig(t, in, ytxsim.FormatDefault)
	ctx := context.Background()
	c, err := r.ytx.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitEvents(t, c.ConfID, 1)
	if _, err := r.ytx.InviteJoinConf(ctx, c.ConfID, "13912345678", yuntongxun.InviteOptions{}); err != nil {
		t.Fatal(err)
	}

	e.ns.Stop()
	testkit.Eventually(t, "client to notice", 20*time.Second, func() bool { return !in.nc.IsConnected() })
	r.clock.Advance(3 * time.Second) // the call answers: an invite callback
	// The delivery fails; the simulator records it and, in the same step,
	// schedules its retry on the fake clock.
	var failed ytxsim.Delivery
	testkit.Eventually(t, "the failed delivery", 20*time.Second, func() bool {
		for _, d := range r.sim.Deliveries() {
			if d.Kind == "invite" {
				failed = d
				return true
			}
		}
		return false
	})
	if failed.Attempt != 1 || failed.Status < 300 {
		t.Fatalf("first delivery while NATS is down: %+v, want a non-2xx status", failed)
	}

	e.ns.Start()
	_, e.js = e.ns.ConnectJS(t) // a fresh handle on the restarted server
	testkit.Eventually(t, "readyz after restart", 20*time.Second, func() bool { code, _ := in.get(t, "/readyz"); return code == http.StatusOK })
	r.clock.Advance(time.Second) // the retry
	got := e.waitEvents(t, c.ConfID, 2)
	checkKinds(t, got, "created", "invite")
	var attempts []int
	for _, d := range r.sim.Deliveries() {
		if d.Kind == "invite" {
			attempts = append(attempts, d.Status)
		}
	}
	if len(attempts) != 2 || attempts[1] != http.StatusOK {
		t.Errorf("invite deliveries: statuses %v, want [5xx 200]", attempts)
	}
}
