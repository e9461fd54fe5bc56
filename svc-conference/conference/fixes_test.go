package conference

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"confapplet/pkg/contract"
	"confapplet/pkg/yuntongxun"
)

// TestHelpShowsEnv: -help names every flag's environment variable, as
// svc-edge and svc-callback do.
func TestHelpShowsEnv(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseConfig([]string{"-help"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	help := out.String()
	for _, want := range []string{"(NATS_URL)", "(LOG_LEVEL)", "(YTX_BASE_URL)", "(YTX_ACCOUNT_SID)", "(YTX_AUTH_TOKEN)",
		"(YTX_APP_ID)", "(CONF_HTTP_ADDR)", "(CONF_INVITE_RATE)", "(CONF_GLOBAL_INVITE_BURST)", "(CONF_KV_REPLICAS)",
		"(CONF_START_TIMEOUT)", "(CONF_YTX_TIMEOUT)"} {
		if !strings.Contains(help, want) {
			t.Errorf("-help lacks %s", want)
		}
	}
	// Every flag but -healthcheck shows its variable.
	var n int
	for _, line := range strings.Split(help, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-") {
			n++
		}
	}
	if c := strings.Count(help, " (CONF_") + strings.Count(help, " (NATS_URL)") + strings.Count(help, " (LOG_LEVEL)") + strings.Count(help, " (LOG_FULL_NUMBERS)") +
		strings.Count(help, " (YTX_") + strings.Count(help, " (OTEL_"); c != n-1 {
		t.Errorf("%d flags, %d environment names in -help:\n%s", n, c, help)
	}
}

// TestPlatformErrorInvalidArgument: an argument the platform client refused
// before sending anything is the caller's mistake (invalid_params), not a
// platform outage.
func TestPlatformErrorInvalidArgument(t *testing.T) {
	err := fmt.Errorf("yuntongxun QuitConf: empty callid: %w", yuntongxun.ErrInvalidArgument)
	if e := platformError(err); e.Code != contract.CodeInvalidParams {
		t.Fatalf("platformError(%v) = %v, want invalid_params", err, e)
	}
	if ambiguous(err) {
		t.Fatal("an argument error is not ambiguous: nothing was sent")
	}
}
