//go:build cluster

package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// useHAProxy says whether the test puts deploy/lb/haproxy.cfg in front of
// the edges and the callback service: when haproxy is installed
// (apt-get install haproxy), unless CLUSTERTEST_LB=none. Without it the
// browsers rotate over the edges' URLs themselves.
func useHAProxy() (string, bool) {
	if os.Getenv("CLUSTERTEST_LB") == "none" {
		return "", false
	}
	p, err := exec.LookPath("haproxy")
	return p, err == nil
}

// loopbackHAProxy turns deploy/lb/haproxy.cfg into the same configuration
// on loopback: binds on 127.0.0.1 ports, connection limits that fit a
// process's default open-files limit, and static servers instead of the
// Docker-DNS server templates. Everything else (health checks, timeouts,
// balancing, retries) is the file operators run.
func loopbackHAProxy(t *testing.T, edgePorts []int, callbackPort, lbPort, cbPort, statsPort int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "lb", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(cfg, old) {
			t.Fatalf("deploy/lb/haproxy.cfg no longer contains %q: update lb_test.go", old)
		}
		cfg = strings.ReplaceAll(cfg, old, new)
	}
	// This machine's open-files limit is lower than the container's.
	replace("maxconn 100000", "maxconn 8000")
	replace("maxconn 50000", "maxconn 4000")
	replace("bind :8080", fmt.Sprintf("bind 127.0.0.1:%d", lbPort))
	replace("bind :8081", fmt.Sprintf("bind 127.0.0.1:%d", cbPort))
	replace("bind :8404", fmt.Sprintf("bind 127.0.0.1:%d", statsPort))
	var edges []string
	for i, p := range edgePorts {
		edges = append(edges, fmt.Sprintf("server edge%d 127.0.0.1:%d", i+1, p))
	}
	replace("server-template edge 1-16 svc-edge:8080", strings.Join(edges, "\n    "))
	replace("server-template callback 1-8 svc-callback:8081", fmt.Sprintf("server callback1 127.0.0.1:%d", callbackPort))
	// No Docker DNS here: static addresses, same check settings.
	cfg = regexp.MustCompile(`(?m)^\s*default-server .*$`).ReplaceAllStringFunc(cfg, func(line string) string {
		line = strings.Replace(line, "init-addr none ", "", 1)
		return strings.Replace(line, " resolvers docker resolve-prefer ipv4", "", 1)
	})
	cfg = regexp.MustCompile(`(?ms)^resolvers docker\n.*?\n\n`).ReplaceAllString(cfg, "")
	return cfg
}
