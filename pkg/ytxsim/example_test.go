package ytxsim_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"confapplet/pkg/ytxsim"
	"confapplet/pkg/yuntongxun"
)

// Example runs the simulator in-process on a fake clock and drives it with
// the real client: the way other packages' tests use it.
func Example() {
	clock := ytxsim.NewFakeClockNow()
	sim := ytxsim.New(ytxsim.Config{Clock: clock /* NotifyBaseURL: callbackServer.URL + "/yt/secret" */})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, _ := yuntongxun.New(yuntongxun.Config{
		BaseURL: srv.URL + "/" + ytxsim.Version, AccountSID: ytxsim.DefaultAccountSID,
		AuthToken: ytxsim.DefaultAuthToken, AppID: ytxsim.DefaultAppID, Now: clock.Now,
	})
	ctx := context.Background()
	conf, _ := c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
	c.InviteJoinConf(ctx, conf.ConfID, "13912345678", yuntongxun.InviteOptions{})
	c.InviteJoinConf(ctx, conf.ConfID, ytxsim.NumberBusy, yuntongxun.InviteOptions{})
	clock.Advance(2 * time.Second) // most numbers answer within 1–2 s
	st, _ := c.QueryConfState(ctx, conf.ConfID)
	fmt.Println("state", st.State, "count", st.Count, "dialled", len(sim.Calls()))
	// Output: state 1 count 1 dialled 2
}
