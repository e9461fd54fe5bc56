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

	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"
)

// Settings the stack shares.
const (
	callbackSecret = "clustertest-secret"
)

// repoRoot is the repository root, seen from deploy/clustertest.
var repoRoot = filepath.Join("..", "..")

// stack is every process of the test: the services (teststack) on a
// 3-node NATS cluster of processes, and HAProxy in front when installed.
type stack struct {
	*teststack.Stack
	dir     string
	nats    *natsCluster
	lb      *testkit.Proc // HAProxy, when installed
	lbURL   string        // ws://… of the LB's browser frontend; "" without LB
	lbStats string        // http://…/stats of the LB
}

// waitReady waits until s answers on its ready path again.
func waitReady(t *testing.T, s *teststack.Service, d time.Duration) {
	t.Helper()
	if err := s.WaitReady(context.Background(), d); err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
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
	t.Fatalf("HAProxy: %s after 30 s\n%s", last, st.lb.Tail(3000))
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
	ctx := context.Background()
	build := &testkit.Builder{Root: repoRoot, Dir: filepath.Join(dir, "bin")}
	t0 := time.Now()
	natsBin, err := build.Build(ctx, "pkg", teststack.NATSServer)
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{dir: dir}
	st.nats = startNATSCluster(t, natsBin[0], dir, 3)
	t.Cleanup(st.nats.stop)
	t.Logf("NATS cluster up: %s", st.nats.urls())

	// The load balancer's ports are chosen now, so the simulator can be told
	// to send its callbacks through it.
	hp, withLB := useHAProxy()
	var lbPort, lbCBPort, statsPort int
	sim := map[string]string{
		// Platform answers take a while, so a conference instance killed
		// mid-load has requests in flight.
		"SIM_LATENCY": "100ms",
	}
	if withLB {
		lbPort, lbCBPort, statsPort = testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
		sim["SIM_NOTIFY_URL"] = fmt.Sprintf("http://127.0.0.1:%d/yt/%s", lbCBPort, callbackSecret)
	}
	// svc-callback creates the events stream with 3 replicas; both
	// conference instances start at once, as compose starts them: creating
	// the same R3 buckets together on a fresh cluster must not fail either.
	st.Stack, err = teststack.Start(ctx, teststack.Options{
		Dir:           dir,
		Build:         build,
		NATSURL:       st.nats.urls(),
		Conferences:   2,
		Edges:         2,
		LogLevel:      "info",
		Secret:        callbackSecret,
		OperatorToken: operatorToken,
		Callback:      map[string]string{"CALLBACK_EVENTS_REPLICAS": "3"},
		Conference: map[string]string{
			"CONF_KV_REPLICAS": "3",
			// The test's owners invite faster than a person would.
			"CONF_INVITE_RATE":  "20",
			"CONF_INVITE_BURST": "20",
			// The call budget is raised on purpose (its defaults are tested in
			// svc-conference and deploy/e2e's hostile suite): the load comes
			// from one address, and the live-calls count pauses while the
			// view resyncs.
			"CONF_CALLS_PER_MINUTE":        "100000",
			"CONF_CONFS_PER_MINUTE":        "100000",
			"CONF_MAX_LIVE_CALLS":          "0",
			"CONF_SOURCE_CALLS_PER_MINUTE": "0",
			"CONF_SOURCE_CONFS_PER_MINUTE": "0",
			"CONF_DEFAULT_MAX_MEMBER":      "50",
		},
		Edge: map[string]string{"EDGE_SHUTDOWN_WINDOW": "2s", "EDGE_SHUTDOWN_CAP": "8s", "EDGE_AUTH_SECRET": tokenKey},
		Sim:  sim,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	t.Logf("built and started the services in %s", time.Since(t0).Round(time.Millisecond))

	// The load balancer: deploy/lb/haproxy.cfg on loopback, in front of
	// the edges (browsers) and svc-callback (the platform's callbacks).
	if withLB {
		cfg := loopbackHAProxy(t, []int{st.Edges[0].Port, st.Edges[1].Port}, st.Callback.Port, lbPort, lbCBPort, statsPort)
		cf := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cf, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(hp, "-c", "-f", cf).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
		st.lb = testkit.NewProc("haproxy", hp, dir, []string{"-db", "-f", cf}, nil)
		if err := st.lb.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.lb.Stop(10 * time.Second) })
		st.lbURL = fmt.Sprintf("ws://127.0.0.1:%d", lbPort)
		st.lbStats = fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort)
		st.waitLB(t)
		t.Logf("HAProxy in front: browsers %s, callbacks :%d", st.lbURL, lbCBPort)
	} else {
		t.Logf("no haproxy installed: browsers rotate over the edges' URLs (apt-get install haproxy to test the LB too)")
	}
	t.Logf("stack up in %s", time.Since(t0).Round(time.Millisecond))
	return st
}
