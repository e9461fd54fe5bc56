package ytxsim

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/testkit"
	"confapplet/pkg/yuntongxun"
)

// TestRun starts the command as main does, with settings from the
// environment and flags (flags win), waits for /healthz, drives it with the
// client, checks -healthcheck, and stops it.
func TestRun(t *testing.T) {
	rx := newReceiver(t)
	addr := testkit.FreeAddr(t)
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`[{"pattern":".","outcome":"answer","delay":"10ms"}]`), 0o644)
	env := map[string]string{
		"SIM_ADDR":            "127.0.0.1:1", // overridden by -addr
		"SIM_NOTIFY_URL":      rx.srv.URL + "/yt/secret",
		"YTX_ACCOUNT_SID":     "sid1",
		"YTX_AUTH_TOKEN":      "tok1",
		"YTX_APP_ID":          "app1",
		"SIM_CALLBACK_FORMAT": "form",
		"SIM_RULES_FILE":      rules,
	}
	getenv := func(k string) string { return env[k] }
	var out testkit.Buffer
	runCtx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(runCtx, []string{"-addr", addr}, getenv, &out) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy: %v\n%s", err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := Run(ctx, []string{"-healthcheck", "-addr", addr}, getenv, io.Discard); err != nil {
		t.Errorf("-healthcheck on a live simulator: %v", err)
	}
	c, _ := yuntongxun.New(yuntongxun.Config{BaseURL: "http://" + addr + "/" + Version, AccountSID: "sid1", AuthToken: "tok1", AppID: "app1", Callbacks: testCallbacks})
	res, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.InviteJoinConf(ctx, res.ConfID, "13800000001", yuntongxun.InviteOptions{}) // the rules file replaced "busy"
	cbs := rx.expect(t, "created", "invite")
	if !strings.HasPrefix(cbs[0].ctype, "application/x-www-form-urlencoded") || cbs[1].f["result"] != "0" {
		t.Errorf("callbacks %+v", cbs)
	}
	stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if err := Run(ctx, []string{"-healthcheck", "-addr", addr}, getenv, io.Discard); err == nil {
		t.Error("-healthcheck succeeded with nothing listening")
	}
	if !strings.Contains(out.String(), `"simulator listening"`) {
		t.Errorf("log: %s", out.String())
	}
}

func TestRunBadSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-callback-format", "json"}, nil},
		{[]string{"-tail-ratio", "2"}, nil},
		{[]string{"-callback-callid-field", "id"}, nil},
		{nil, map[string]string{"SIM_LATENCY": "fast"}},
		{[]string{"-rules-file", "/nonexistent"}, nil},
		{[]string{"-nope"}, nil},
		{[]string{"-addr", "256.0.0.1:99999"}, nil},
	} {
		err := Run(ctx, tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil {
			t.Errorf("%v %v accepted", tc.args, tc.env)
		}
	}
}
