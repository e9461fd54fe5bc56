package main

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"confapplet/pkg/svc"
	"confapplet/pkg/testkit"
)

// testEnv is a getenv over m only.
func testEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// dumpLog prints the last lines of the services' log.
func dumpLog(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	t.Logf("last lines of %s:\n%s", path, b)
}

func TestParseConfigFlagsWinOverEnv(t *testing.T) {
	env := testEnv(map[string]string{"LOCAL_EDGE_ADDR": ":9090", "LOCAL_NATS_PORT": "5222", "LOCAL_TEMP": "true"})
	c, err := parseConfig([]string{"-edge-addr", ":7070"}, env, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.EdgeAddr != ":7070" || c.NATSPort != 5222 || !c.Temp || c.CallbackAddr != "127.0.0.1:8081" {
		t.Fatalf("config %+v", c)
	}
	if _, err := parseConfig([]string{"extra"}, env, os.Stderr); err == nil {
		t.Fatal("want an error for a stray argument")
	}
}

func TestRealPlatformNeedsAllThreeCredentials(t *testing.T) {
	all := map[string]string{"YTX_ACCOUNT_SID": "a", "YTX_AUTH_TOKEN": "b", "YTX_APP_ID": "c"}
	if !realPlatform(testEnv(all)) {
		t.Fatal("all three set: want the real platform")
	}
	delete(all, "YTX_APP_ID")
	if realPlatform(testEnv(all)) {
		t.Fatal("one missing: want the simulator")
	}
}

func TestCheckPortsNamesTheFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := defaultConfig()
	cfg.EdgeAddr = ln.Addr().String()
	cfg.CallbackAddr, cfg.ConfAddr, cfg.SimAddr = testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	cfg.EdgeOpsAddr, cfg.CallbackOpsAddr = testkit.FreeAddr(t), testkit.FreeAddr(t)
	cfg.NATSPort = testkit.FreePort(t)
	err = newStack(cfg, testEnv(nil), io.Discard).checkPorts()
	if err == nil || !strings.Contains(err.Error(), "-edge-addr") {
		t.Fatalf("checkPorts = %v, want an error naming -edge-addr", err)
	}
	cfg.EdgeAddr = testkit.FreeAddr(t)
	if err := newStack(cfg, testEnv(nil), io.Discard).checkPorts(); err != nil {
		t.Fatalf("free ports: %v", err)
	}
}

// TestConfigDoc: README.md's table of the local stack's settings is the one
// the flag declarations render (UPDATE_DOCS=1 rewrites it).
func TestConfigDoc(t *testing.T) {
	c := defaultConfig()
	if err := svc.CheckDoc("../../README.md", c.flags().Table()); err != nil {
		t.Fatal(err)
	}
}
