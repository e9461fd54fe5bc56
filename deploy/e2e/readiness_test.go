package e2e

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"
	"confapplet/pkg/yuntongxun"
	"confapplet/svc-callback/callback"
	"confapplet/svc-conference/conference"

	"github.com/rs/zerolog"
)

// TestReadiness runs the operator's readiness check (`svc-conference
// readiness`) against the simulator and a real svc-callback: all checks
// pass with the right credentials and address; a wrong token, a wrong
// secret and an unreachable platform each fail with a line naming the
// cause.
func TestReadiness(t *testing.T) {
	sim := ytxsim.New(ytxsim.Config{Clock: ytxsim.NewFakeClockNow()})
	defer sim.Close()
	simHTTP := httptest.NewServer(sim)
	defer simHTTP.Close()
	ns := testkit.StartNATS(t)
	cb, err := callback.New(callback.Config{Secret: secret}, ns.Connect(t), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cbHTTP := httptest.NewServer(cb.Handler())
	defer cbHTTP.Close()

	run := func(env map[string]string, args ...string) (string, error) {
		base := map[string]string{"YTX_BASE_URL": simHTTP.URL + "/" + ytxsim.Version}
		for k, v := range env {
			base[k] = v
		}
		var out bytes.Buffer
		err := conference.Run(context.Background(), append([]string{"readiness"}, args...),
			func(k string) string { return base[k] }, &out)
		return out.String(), err
	}

	out, err := run(nil, "-callback-url", cbHTTP.URL+"/yt/"+secret)
	if err != nil {
		t.Fatalf("readiness failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"OK   credentials:",
		"INFO console notification address (IVR 通知地址): " + cbHTTP.URL + "/yt/" + secret + "/",
		`INFO   joined    commands carry "joined" → ` + cbHTTP.URL + "/yt/" + secret + "/joined",
		"OK   svc-callback: answers at",
		"WARN callback URLs:", // plain http
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(map[string]string{"YTX_AUTH_TOKEN": "0000000000000000000000000000000f"}, "-callback-url", cbHTTP.URL+"/yt/"+secret)
	if err == nil || !strings.Contains(out, "FAIL credentials: refused with "+yuntongxun.CodeSigMismatch) {
		t.Errorf("wrong token: %v\n%s", err, out)
	}
	out, err = run(nil, "-callback-url", cbHTTP.URL+"/yt/not-the-secret/")
	if err == nil || !strings.Contains(out, "FAIL svc-callback:") || !strings.Contains(out, "404") {
		t.Errorf("wrong secret: %v\n%s", err, out)
	}
	out, err = run(map[string]string{"YTX_BASE_URL": "http://127.0.0.1:1/2013-12-26", "CONF_YTX_TIMEOUT": "200ms"},
		"-callback-url="+cbHTTP.URL+"/yt/"+secret)
	if err == nil || !strings.Contains(out, "FAIL credentials: platform not reachable") {
		t.Errorf("unreachable platform: %v\n%s", err, out)
	}
	// Absolute callback URLs are printed as given.
	out, err = run(map[string]string{"YTX_CALLBACK_BASE_URL": cbHTTP.URL + "/yt/" + secret})
	if err != nil || !strings.Contains(out, `commands carry "`+cbHTTP.URL+"/yt/"+secret+`/created"`) {
		t.Errorf("absolute URLs: %v\n%s", err, out)
	}
}
