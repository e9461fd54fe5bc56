package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodePath finds Node.js (20 or newer): $CONFAPPLET_NODE, else node on PATH.
// Without it the test is skipped, except in CI (CI=true), where it fails.
func nodePath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CONFAPPLET_NODE")
	if p == "" {
		p, _ = exec.LookPath("node")
	}
	if p != "" {
		out, err := exec.Command(p, "-p", "process.versions.node.split('.')[0]").Output()
		if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || major < 20 {
			p = ""
		}
	}
	return needTool(t, p, "Node.js 20 or newer not found (install nodejs, or set CONFAPPLET_NODE)", "the JavaScript client's tests")
}

// TestJSClient runs the JavaScript client package's own tests (node --test
// in svc-edge/web/client-js/test) against this program's stack, started with a
// connection token key so that the tests sign tokens as an app's back end
// would and exercise their renewal. The tests get the stack's addresses,
// the key and its process id (SIGUSR1 restarts svc-edge) in the
// environment; the stack stops when the test ends, whatever node did.
func TestJSClient(t *testing.T) {
	node := nodePath(t)
	const secret = "js-client-test-secret-0123456789abcdef"
	s := startLocal(t, 20*time.Second, "EDGE_AUTH_SECRET="+secret)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join("..", "..", "svc-edge", "web", "client-js")
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s/test (%v)", dir, err)
	}
	// One file at a time: some tests change the simulator's latency.
	args := []string{"--test", "--test-concurrency=1"}
	for _, f := range files {
		args = append(args, filepath.Join("test", filepath.Base(f)))
	}
	// Node 20 has a WebSocket only behind this flag (22 and later have it).
	if out, _ := exec.Command(node, "-p", "typeof WebSocket").Output(); strings.TrimSpace(string(out)) != "function" {
		args = append([]string{"--experimental-websocket"}, args...)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CONFAPPLET_EDGE_URL=ws://"+s.edgeAddr,
		"CONFAPPLET_SIM_URL=http://"+s.simAddr,
		"CONFAPPLET_AUTH_SECRET="+secret,
		"CONFAPPLET_LOCAL_PID="+strconv.Itoa(s.cmd.Process.Pid),
		// A missing variable fails the tests instead of skipping them.
		"CONFAPPLET_REQUIRE_STACK=1",
	)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("node %s (%.1f s):\n%s", strings.Join(args, " "), time.Since(start).Seconds(), out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
	if !strings.Contains(string(out), "\n# fail 0") || strings.Contains(string(out), "\n# pass 0") {
		t.Fatal("node --test passed without running the tests")
	}
}
