package conference

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"
)

// TestRun starts the process function as main does, with configuration
// from the environment, and checks the ops endpoints, -healthcheck and a
// clean shutdown.
func TestRun(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := testkit.FreeAddr(t)
	env := map[string]string{
		"NATS_URL":                  e.ns.ClientURL(),
		"YTX_BASE_URL":              e.srv.URL + "/" + ytxsim.Version,
		"YTX_ACCOUNT_SID":           ytxsim.DefaultAccountSID,
		"YTX_AUTH_TOKEN":            ytxsim.DefaultAuthToken,
		"YTX_APP_ID":                ytxsim.DefaultAppID,
		"CONF_HTTP_ADDR":            addr,
		"CONF_CONCURRENCY":          "8",
		"CONF_OPERATOR_TOKEN":       "op",
		"CONF_ALLOW_NUMBERS":        `^1[3-9][0-9]{9}$;^0[1-9][0-9]{9,10}$`,
		"CONF_INVITE_RATE":          "5",
		"CONF_INSTANCE":             "run-test",
		"LOG_LEVEL":                 "info",
		"CONF_MISSING_RECORD_DELAY": "50ms",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nil, func(k string) string { return env[k] }, out) }()

	base := "http://" + addr
	testkit.Eventually(t, "/readyz", 10*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	confID := e.create("alice", 3)
	e.invite("alice", confID, "13812345678")
	e.fails(contract.CodeNumberRefused, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "4008123123"})

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`confapplet_conference_requests_total{method="CreateConf",outcome="ok"} 1`,
		`confapplet_conference_requests_total{method="InviteJoinConf",outcome="number_not_allowed"} 1`,
		`confapplet_conference_guard_refusals_total{code="number_not_allowed"} 1`,
		`confapplet_conference_platform_request_duration_seconds_count{command="InviteJoinConf",outcome="ok"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := Run(ctx, []string{"-healthcheck", "-http-addr", addr}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	logs := out.String()
	for _, want := range []string{`"client_id":"alice"`, `"conf_id":"` + confID + `"`, `"call_id":"`, `"instance":"run-test"`, `"service":"svc-conference"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := Run(context.Background(), []string{"-healthcheck", "-http-addr", addr}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("healthcheck of a stopped instance passed")
	}
}

// TestRunFails: Run returns an error (exit non-zero) on bad configuration
// and when NATS cannot be reached for the service to start.
func TestRunFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"bad flag", []string{"-no-such-flag"}, nil},
		{"bad env", nil, map[string]string{"CONF_CONCURRENCY": "many"}},
		{"invalid", []string{"-concurrency", "0"}, nil},
		{"bad pattern", nil, map[string]string{"CONF_ALLOW_NUMBERS": "^1[$"}},
		{"no credentials", []string{"-ytx-auth-token="}, nil},
		{"nats unreachable", []string{"-nats", "nats://127.0.0.1:1", "-http-addr", ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := Run(ctx, tc.args, func(k string) string { return tc.env[k] }, io.Discard); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{
		"NATS_URL":                "nats://a:4222",
		"CONF_HTTP_ADDR":          ":9999",
		"CONF_CONCURRENCY":        "12",
		"CONF_KV_REPLICAS":        "3",
		"CONF_ALLOW_NUMBERS":      `^1[0-9]{10}$ ^0[0-9]{10,11}$`,
		"CONF_GLOBAL_INVITE_RATE": "7.5",
		"CONF_IDEMPOTENCY_TTL":    "1h",
		"YTX_APP_ID":              "app",
	}
	c, err := parseConfig([]string{"-concurrency", "5"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "nats://a:4222" || c.HTTPAddr != ":9999" || c.Concurrency != 5 || c.KVReplicas != 3 ||
		len(c.AllowNumbers) != 2 || c.GlobalRatePerSec != 7.5 || c.IdempotencyTTL != time.Hour || c.YTXAppID != "app" {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if len(d.AllowNumbers) != len(DefaultAllowNumbers) {
		t.Fatalf("default allow-list %v", d.AllowNumbers)
	}
}
