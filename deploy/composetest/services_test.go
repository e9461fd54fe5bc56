package composetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/testkit"
	"confapplet/pkg/token"
)

// Each Go service's environment twins follow one rule (docs/DESIGN-NOTES.md):
// flag -foo-bar ↔ PREFIX_FOO_BAR, except the workspace-wide -nats (NATS_URL),
// -log-level (LOG_LEVEL) and the platform's -ytx-* (YTX_*).
var envPrefix = map[string]string{
	"svc-edge":       "EDGE_",
	"svc-conference": "CONF_",
	"svc-callback":   "CALLBACK_",
	"ytxsim":         "SIM_",
}

// addrVar is each service's listen-address variable; tests point it at a
// free loopback port.
var addrVar = map[string]string{
	"svc-edge":       "EDGE_ADDR",
	"svc-conference": "CONF_HTTP_ADDR",
	"svc-callback":   "CALLBACK_ADDR",
	"ytxsim":         "SIM_ADDR",
}

// opsVar is the ops listener's variable of the services that have one
// besides their listen address; tests point it at a free loopback port, as
// its fixed default could be taken on a shared machine.
var opsVar = map[string]string{
	"svc-edge":     "EDGE_OPS_ADDR",
	"svc-callback": "CALLBACK_OPS_ADDR",
}

var (
	flagLine   = regexp.MustCompile(`(?m)^\s+-([a-z0-9][a-z0-9-]*)`)
	envInUsage = regexp.MustCompile(`\(([A-Z][A-Z0-9]*_[A-Z0-9_]+)\)`)
	// services builds each service's binary once per test binary.
	services = &testkit.Builder{Root: root}
)

func TestMain(m *testing.M) {
	code := m.Run()
	services.Cleanup()
	os.Exit(code)
}

// binPath builds service's binary once per test binary and returns its path.
// A service whose main package does not exist yet is skipped, not failed, so
// this test does not block the services' own work while they land.
func binPath(t *testing.T, service string) string {
	t.Helper()
	dir := goServices[service]
	if _, err := os.Stat(filepath.Join(root, dir, "main.go")); err != nil {
		t.Skipf("%s: no main package at %s yet", service, dir)
	}
	bin, err := services.Build(context.Background(), ".", "./"+dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin[0]
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// knownEnv is every environment variable service reads, learnt from its own
// flag set: `-help` lists the flags; a flag whose usage names its variable
// ("listen address (EDGE_ADDR)") reads that one, any other follows the rule.
func knownEnv(t *testing.T, service string) map[string]bool {
	t.Helper()
	cmd := exec.Command(binPath(t, service), "-help")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput() // -help exits 0, 1 or 2 depending on the service
	help := string(out)
	locs := flagLine.FindAllStringSubmatchIndex(help, -1)
	if len(locs) == 0 {
		t.Fatalf("%s -help lists no flags:\n%s", service, out)
	}
	known := map[string]bool{}
	for i, l := range locs {
		name := help[l[2]:l[3]]
		end := len(help)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if named := envInUsage.FindAllStringSubmatch(help[l[1]:end], -1); len(named) > 0 {
			for _, n := range named {
				known[n[1]] = true
			}
			continue
		}
		switch {
		case name == "nats":
			known["NATS_URL"] = true
		case name == "log-level":
			known["LOG_LEVEL"] = true
		case strings.HasPrefix(name, "ytx-"):
			known["YTX_"+strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(name, "ytx-"), "-", "_"))] = true
		default:
			known[envPrefix[service]+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
		}
	}
	if !known["NATS_URL"] && service != "ytxsim" {
		t.Errorf("%s -help has no -nats flag", service)
	}
	return known
}

// hasFlag reports whether service's -help lists -flag.
func hasFlag(t *testing.T, service, flag string) bool {
	t.Helper()
	cmd := exec.Command(binPath(t, service), "-help")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput()
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		if m[1] == flag {
			return true
		}
	}
	return false
}

// TestComposeEnvIsKnown: every variable compose sets for a Go service is one
// that service's configuration reads, and every service has -healthcheck.
func TestComposeEnvIsKnown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the services")
	}
	p := load(t, nil)
	for _, name := range sortedKeys(goServices) {
		t.Run(name, func(t *testing.T) {
			known := knownEnv(t, name)
			if !hasFlag(t, name, "healthcheck") {
				t.Errorf("%s has no -healthcheck flag (its Docker HEALTHCHECK and compose health check call it)", name)
			}
			if !known[addrVar[name]] {
				t.Errorf("%s does not read %s (known: %v)", name, addrVar[name], sortedKeys(known))
			}
			for _, k := range sortedKeys(p.Services[name].Environment) {
				if !known[k] {
					t.Errorf("compose sets %s on %s, but %s does not read it (known: %v)", k, name, name, sortedKeys(known))
				}
			}
		})
	}
}

// TestComposeEnvStartsServices starts every Go service with exactly the
// environment compose gives it — only NATS_URL, the listen addresses and the
// compose host names are rewritten to loopback — against a 3-node NATS
// cluster, and waits until the binary's own -healthcheck (what Docker runs)
// passes. A required variable that compose forgot makes the service exit,
// and this test fail with the service's message.
func TestComposeEnvStartsServices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the services")
	}
	p := load(t, nil)
	// The compose stack creates streams and buckets with 3 replicas.
	natsURL := testkit.StartNATSCluster(t, 3).ClientURL()

	ports := map[string]int{}
	for name := range goServices {
		ports[name] = testkit.FreePort(t)
	}
	// Compose host names → loopback addresses of this test.
	hosts := strings.NewReplacer(
		"ytxsim:8883", fmt.Sprintf("127.0.0.1:%d", ports["ytxsim"]),
		"lb:8081", fmt.Sprintf("127.0.0.1:%d", ports["svc-callback"]),
		"lb:8080", fmt.Sprintf("127.0.0.1:%d", ports["svc-edge"]),
	)
	envOf := func(name string) []string {
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		for k, v := range p.Services[name].Environment {
			if k == "NATS_URL" {
				v = natsURL
			}
			env = append(env, k+"="+hosts.Replace(v))
		}
		if v, ok := opsVar[name]; ok {
			env = append(env, v+"="+testkit.FreeAddr(t))
		}
		return append(env, fmt.Sprintf("%s=127.0.0.1:%d", addrVar[name], ports[name]))
	}

	// Start order as compose's depends_on: callback, conference, edge, simulator.
	order := []string{"svc-callback", "svc-conference", "svc-edge", "ytxsim"}
	var procs []*testkit.Proc
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Signal(os.Interrupt)
		}
		for _, p := range procs {
			if !p.Wait(15 * time.Second) {
				p.Kill()
			}
		}
	})
	logs := t.TempDir()
	for _, name := range order {
		p := &testkit.Proc{Name: name, Bin: binPath(t, name), Env: envOf(name), Log: filepath.Join(logs, name+".log")}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		if err := waitHealthy(t, p, 30*time.Second); err != nil {
			t.Fatalf("%s with its compose environment: %v\n--- output ---\n%s", name, err, p.Tail(4000))
		}
		t.Logf("%s healthy with its compose environment", name)
	}

	// The wiring works end to end, as a browser at http://localhost:8080
	// would see it: the page is served, and an invitation made through the
	// edge reaches the simulator with the conference's credentials, whose
	// callback reaches svc-callback with the right secret and comes back to
	// the browser as an event.
	edge := fmt.Sprintf("http://127.0.0.1:%d", ports["svc-edge"])
	resp, err := http.Get(edge + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(bytes.ToLower(page), []byte("<html")) {
		t.Errorf("GET / on the edge: HTTP %d, %d bytes: want the page", resp.StatusCode, len(page))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	notes := make(chan client.Notification, 64)
	// A token signed with the compose file's key, as an operator's back end would.
	c, err := client.Dial(ctx, edge, "composetest", client.WithToken(token.HS256(required["EDGE_AUTH_SECRET"], "composetest", time.Hour)),
		client.WithHandler(func(n client.Notification) {
			if n.IsEvent() {
				notes <- n
			}
		}))
	if err != nil {
		t.Fatalf("dial the edge: %v", err)
	}
	defer c.Close()
	confID, err := c.CreateConf(ctx)
	if err != nil {
		t.Fatalf("CreateConf through the compose wiring: %v", err)
	}
	callID, err := c.InviteJoinConf(ctx, confID, "13912345678")
	if err != nil {
		t.Fatalf("InviteJoinConf through the compose wiring: %v", err)
	}
	for {
		select {
		case n := <-notes:
			var p struct {
				CallID string `json:"callid"`
				Result int    `json:"result"`
			}
			if n.Method == "OnConfInviteJoin" && n.Decode(&p) == nil && p.CallID == callID {
				if p.Result != 0 {
					t.Errorf("the invitation failed: %s", n.Params)
				}
				t.Logf("event round trip through the compose wiring: %s %s", n.Method, n.Params)
				return
			}
		case <-ctx.Done():
			t.Fatalf("no OnConfInviteJoin for %s within 30 s: the simulator's callbacks do not reach the browser (SIM_NOTIFY_URL, CALLBACK_SECRET, YTX_*)", callID)
		}
	}
}

// waitHealthy runs `<binary> -healthcheck` with p's environment, as Docker's
// HEALTHCHECK does, until it exits 0.
func waitHealthy(t *testing.T, p *testkit.Proc, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last string
	for {
		if !p.Running() {
			return fmt.Errorf("exited: %v", p.Err())
		}
		hc := exec.CommandContext(ctx, p.Bin, "-healthcheck")
		hc.Env = p.Env
		out, err := hc.CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))
		select {
		case <-ctx.Done():
			return fmt.Errorf("-healthcheck still failing after %s: %s", d, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestRequiredVariableMissing is the control of the test above: without a
// variable its service requires, the service must refuse to start, so a
// forgotten variable in docker-compose.yml cannot pass unnoticed.
func TestRequiredVariableMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the services")
	}
	p := load(t, nil)
	env := []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("CALLBACK_ADDR=127.0.0.1:%d", testkit.FreePort(t)), "NATS_URL=nats://127.0.0.1:1"}
	for k, v := range p.Services["svc-callback"].Environment {
		if k != "CALLBACK_SECRET" && k != "NATS_URL" {
			env = append(env, k+"="+v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath(t, "svc-callback"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("svc-callback without CALLBACK_SECRET: want a quick config error, got %v\n%s", err, out)
	}
	if !strings.Contains(strings.ToLower(string(out)), "secret") {
		t.Errorf("the error should name the secret:\n%s", out)
	}
}

// shutdownFlag is the flag bounding each service's graceful shutdown.
var shutdownFlag = map[string]string{
	"svc-edge":       "shutdown-cap",
	"svc-conference": "shutdown-grace",
	"svc-callback":   "shutdown-timeout",
}

var defaultInUsage = regexp.MustCompile(`\(default ([^)]+)\)`)

// flagDefault returns the default -help shows for flag, "" if none.
func flagDefault(t *testing.T, service, flag string) string {
	t.Helper()
	cmd := exec.Command(binPath(t, service), "-help")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput()
	help := string(out)
	locs := flagLine.FindAllStringSubmatchIndex(help, -1)
	for i, l := range locs {
		if help[l[2]:l[3]] != flag {
			continue
		}
		end := len(help)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if m := defaultInUsage.FindStringSubmatch(help[l[1]:end]); m != nil {
			return m[1]
		}
	}
	return ""
}

// TestStopGracePeriodCoversShutdown: docker stop waits stop_grace_period
// before SIGKILL; it must exceed the service's own shutdown bound (the
// default, or what compose sets), or graceful shutdown (1001 to browsers,
// in-flight requests finishing) is cut short.
func TestStopGracePeriodCoversShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the services")
	}
	p := load(t, nil)
	for _, name := range sortedKeys(shutdownFlag) {
		t.Run(name, func(t *testing.T) {
			flag := shutdownFlag[name]
			v := flagDefault(t, name, flag)
			known := knownEnv(t, name)
			for k, ev := range p.Services[name].Environment {
				if k == envPrefix[name]+strings.ToUpper(strings.ReplaceAll(flag, "-", "_")) && known[k] && ev != "" {
					v = ev
				}
			}
			bound, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("-%s: no duration default in -help (%q)", flag, v)
			}
			grace, err := time.ParseDuration(p.Services[name].StopGracePeriod)
			if err != nil {
				grace = 10 * time.Second // compose's default
			}
			if grace < bound+5*time.Second {
				t.Errorf("stop_grace_period %s leaves less than 5 s over -%s %s", grace, flag, bound)
			}
		})
	}
}
