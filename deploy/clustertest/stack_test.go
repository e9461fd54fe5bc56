//go:build cluster

package clustertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Settings the stack shares.
const (
	callbackSecret = "clustertest-secret"
	operatorToken  = "clustertest-operator"
	simSID         = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	simToken       = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	simAppID       = "cccccccccccccccccccccccccccccccc"
)

// svc is a confapplet service process with its ops HTTP port.
type svc struct {
	*proc
	httpPort int
}

func (s *svc) base() string { return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort) }

func (s *svc) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	if err := waitHTTP(context.Background(), s.base()+"/readyz", d); err != nil {
		t.Fatalf("%s: %v\n--- log tail ---\n%s", s.name, err, s.tail(6000))
	}
}

// stack is every process of the test.
type stack struct {
	dir      string
	nats     *natsCluster
	callback *svc
	confs    []*svc
	edges    []*svc
	sim      *svc
	lb       *proc  // HAProxy, when installed
	lbURL    string // ws://… of the LB's browser frontend; "" without LB
	lbStats  string // http://…/stats of the LB
}

func (st *stack) all() []*proc {
	var out []*proc
	for _, e := range st.edges {
		out = append(out, e.proc)
	}
	for _, c := range st.confs {
		out = append(out, c.proc)
	}
	if st.callback != nil {
		out = append(out, st.callback.proc)
	}
	if st.sim != nil {
		out = append(out, st.sim.proc)
	}
	if st.lb != nil {
		out = append(out, st.lb)
	}
	return out
}

func (st *stack) stop() {
	// Edges first (they close browsers), then the rest, then NATS.
	for _, p := range st.all() {
		p.stop(10 * time.Second)
	}
	if st.nats != nil {
		st.nats.stop()
	}
}

// edgeURL is the WebSocket base URL of edge i.
func (st *stack) edgeURL(i int) string {
	return fmt.Sprintf("ws://127.0.0.1:%d", st.edges[i].httpPort)
}

// waitLB waits until HAProxy reports every server UP (its health checks
// passed), so that a fault starts from a balanced state.
func (st *stack) waitLB(t *testing.T) {
	t.Helper()
	if st.lb == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(st.lbStats + ";csv")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			up, total := 0, 0
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Split(line, ",")
				if len(f) > 17 && (f[0] == "edges" || f[0] == "callbacks") && f[1] != "FRONTEND" && f[1] != "BACKEND" {
					total++
					if strings.HasPrefix(f[17], "UP") {
						up++
					}
				}
			}
			last = fmt.Sprintf("%d of %d servers UP", up, total)
			if total > 0 && up == total {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("HAProxy: %s after 30 s\n%s", last, st.lb.tail(3000))
}

// startStack builds the binaries and starts everything.
func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("CLUSTERTEST_KEEP") != "" {
		d, err := os.MkdirTemp("", "clustertest-*")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	t.Logf("work dir (binaries, configs, logs): %s", dir)
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	natsBin := build(t, bin, "nats-server", "github.com/nats-io/nats-server/v2", filepath.Join(repoRoot, "deploy"))
	buildAll(t, bin, repoRoot, "./svc-edge", "./svc-conference", "./svc-callback", "./deploy/ytxsim")
	edgeBin := filepath.Join(bin, "svc-edge")
	confBin := filepath.Join(bin, "svc-conference")
	cbBin := filepath.Join(bin, "svc-callback")
	simBin := filepath.Join(bin, "ytxsim")
	t.Logf("built 5 binaries in %s", time.Since(t0).Round(time.Millisecond))

	st := &stack{dir: dir}
	t.Cleanup(st.stop)

	st.nats = startNATSCluster(t, natsBin, dir, 3)
	natsURL := st.nats.urls()
	t.Logf("NATS cluster up: %s", natsURL)

	common := func(m map[string]string) map[string]string {
		m["NATS_URL"] = natsURL
		m["LOG_LEVEL"] = "info"
		return m
	}

	// svc-callback first: it creates the events stream with 3 replicas.
	cbPort := freePort(t)
	st.callback = &svc{httpPort: cbPort, proc: newProc("svc-callback", cbBin, dir, nil, common(map[string]string{
		"CALLBACK_ADDR":            fmt.Sprintf("127.0.0.1:%d", cbPort),
		"CALLBACK_SECRET":          callbackSecret,
		"CALLBACK_EVENTS_REPLICAS": "3",
	}))}
	st.callback.start(t)
	st.callback.waitReady(t, 30*time.Second)

	simPort := freePort(t)
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	// Both instances start at once, as compose starts them: creating the same
	// R3 buckets together on a fresh cluster must not fail either of them.
	for i := 1; i <= 2; i++ {
		port := freePort(t)
		c := &svc{httpPort: port, proc: newProc(fmt.Sprintf("svc-conference-%d", i), confBin, dir, nil, common(map[string]string{
			"CONF_HTTP_ADDR":   fmt.Sprintf("127.0.0.1:%d", port),
			"CONF_KV_REPLICAS": "3",
			"CONF_INSTANCE":    fmt.Sprintf("conference-%d", i),
			"YTX_BASE_URL":     simURL + "/2013-12-26",
			"YTX_ACCOUNT_SID":  simSID,
			"YTX_AUTH_TOKEN":   simToken,
			"YTX_APP_ID":       simAppID,
			// The test's owners invite faster than a person would.
			"CONF_INVITE_RATE":        "20",
			"CONF_INVITE_BURST":       "20",
			"CONF_OPERATOR_TOKEN":     operatorToken,
			"CONF_DEFAULT_MAX_MEMBER": "50",
		}))}
		st.confs = append(st.confs, c)
		c.start(t)
	}
	for _, c := range st.confs {
		c.waitReady(t, 60*time.Second)
	}

	for i := 1; i <= 2; i++ {
		port := freePort(t)
		e := &svc{httpPort: port, proc: newProc(fmt.Sprintf("svc-edge-%d", i), edgeBin, dir, nil, common(map[string]string{
			"EDGE_ADDR":            fmt.Sprintf("127.0.0.1:%d", port),
			"EDGE_INSTANCE_ID":     fmt.Sprintf("edge-%d", i),
			"EDGE_SHUTDOWN_WINDOW": "2s",
			"EDGE_SHUTDOWN_CAP":    "8s",
		}))}
		st.edges = append(st.edges, e)
		e.start(t)
	}
	for _, e := range st.edges {
		e.waitReady(t, 30*time.Second)
	}
	// The load balancer: deploy/lb/haproxy.cfg on loopback, in front of
	// the edges (browsers) and svc-callback (the platform's callbacks).
	notifyURL := fmt.Sprintf("http://127.0.0.1:%d/yt/%s", cbPort, callbackSecret)
	if hp, ok := useHAProxy(); ok {
		lbPort, lbCBPort, statsPort := freePort(t), freePort(t), freePort(t)
		cfg := loopbackHAProxy(t, []int{st.edges[0].httpPort, st.edges[1].httpPort}, cbPort, lbPort, lbCBPort, statsPort)
		cf := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cf, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(hp, "-c", "-f", cf).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
		st.lb = newProc("haproxy", hp, dir, []string{"-db", "-f", cf}, nil)
		st.lb.start(t)
		st.lbURL = fmt.Sprintf("ws://127.0.0.1:%d", lbPort)
		st.lbStats = fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort)
		notifyURL = fmt.Sprintf("http://127.0.0.1:%d/yt/%s", lbCBPort, callbackSecret)
		st.waitLB(t)
		t.Logf("HAProxy in front: browsers %s, callbacks :%d", st.lbURL, lbCBPort)
	} else {
		t.Logf("no haproxy installed: browsers rotate over the edges' URLs (apt-get install haproxy to test the LB too)")
	}

	st.sim = &svc{httpPort: simPort, proc: newProc("ytxsim", simBin, dir, nil, map[string]string{
		"SIM_ADDR":        fmt.Sprintf("127.0.0.1:%d", simPort),
		"SIM_NOTIFY_URL":  notifyURL,
		"YTX_ACCOUNT_SID": simSID,
		"YTX_AUTH_TOKEN":  simToken,
		"YTX_APP_ID":      simAppID,
		"LOG_LEVEL":       "info",
		// Platform answers take a while, so a conference instance killed
		// mid-load has requests in flight.
		"SIM_LATENCY": "100ms",
	})}
	st.sim.start(t)
	if err := waitHTTP(context.Background(), st.sim.base()+"/healthz", 30*time.Second); err != nil {
		t.Fatalf("ytxsim: %v\n%s", err, st.sim.tail(4000))
	}

	t.Logf("stack up in %s", time.Since(t0).Round(time.Millisecond))
	return st
}
