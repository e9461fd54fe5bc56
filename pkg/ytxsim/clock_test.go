package ytxsim

import (
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

// TestClockRule pins down how tests keep the simulator and the services'
// clients in step on any day: a fake clock starts at the wall time
// (NewFakeClockNow), so a client that signs with the wall clock, as the
// services do, is accepted; and the platform's 24-hour check still refuses a
// client a day or more away, whichever way.
func TestClockRule(t *testing.T) {
	if d := time.Since(NewFakeClockNow().Now()); d < 0 || d > 2*time.Second {
		t.Fatalf("NewFakeClockNow is %s from the wall clock", d)
	}
	h := newHarness(t, nil)
	client := func(now func() time.Time) *yuntongxun.Client {
		c, err := yuntongxun.New(yuntongxun.Config{BaseURL: h.srv.URL + "/" + Version, AccountSID: DefaultAccountSID,
			AuthToken: DefaultAuthToken, AppID: DefaultAppID, Callbacks: testCallbacks, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	for name, c := range map[string]*yuntongxun.Client{
		"wall clock (as the services sign)": client(nil),
		"the simulator's clock":             client(h.clock.Now),
	} {
		conf, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
		if err != nil {
			t.Fatalf("%s: CreateConf: %v", name, err)
		}
		if _, err := c.InviteJoinConf(ctx, conf.ConfID, "13912345678", yuntongxun.InviteOptions{}); err != nil {
			t.Fatalf("%s: InviteJoinConf: %v", name, err)
		}
	}

	for name, off := range map[string]time.Duration{
		"a day and a second behind": -24*time.Hour - time.Second,
		"a day and a second ahead":  24*time.Hour + time.Second,
		"a week behind":             -7 * 24 * time.Hour,
	} {
		c := client(func() time.Time { return h.clock.Now().Add(off) })
		_, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
		if got := statusCode(t, err); got != yuntongxun.CodeTimestampExpired {
			t.Errorf("client %s: statusCode %s, want %s (timestamp expired)", name, got, yuntongxun.CodeTimestampExpired)
		}
	}

	// What broke main: the simulator's clock a day past the one the
	// client signs with (a fixed start date, a day later).
	wall := client(nil)
	h.clock.Advance(24*time.Hour + time.Minute)
	if _, err := wall.CreateConf(ctx, yuntongxun.CreateConfOptions{}); statusCode(t, err) != yuntongxun.CodeTimestampExpired {
		t.Errorf("a simulator a day ahead of the client accepted it: %v", err)
	}
}
