package callback

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/testkit"
)

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromFlagsAndEnv(t *testing.T) {
	cfg, _, err := parseConfig(nil, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8081" || cfg.MaxBody != 64<<10 || cfg.TimeZone != "Asia/Shanghai" || cfg.NATSURL != "nats://127.0.0.1:4222" {
		t.Errorf("defaults: %+v", cfg)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "secret is required") {
		t.Errorf("no secret outside local mode: %v", err)
	}

	cfg, _, err = parseConfig(nil, mapEnv(map[string]string{"CALLBACK_LOCAL": "true"}), io.Discard)
	if err != nil || cfg.Secret != "local" || cfg.Validate() != nil {
		t.Errorf("local mode: %+v %v", cfg, err)
	}

	env := mapEnv(map[string]string{
		"CALLBACK_ADDR": ":9000", "CALLBACK_SECRET": "fromenv", "CALLBACK_ALLOW_CIDRS": "10.0.0.0/8,192.0.2.7",
		"CALLBACK_MAX_BODY": "4096", "CALLBACK_TIME_ZONE": "UTC", "NATS_URL": "nats://n:4222", "LOG_LEVEL": "debug",
		"CALLBACK_EVENTS_MAX_AGE": "48h", "CALLBACK_EVENTS_REPLICAS": "3", "CALLBACK_PUBLISH_TIMEOUT": "3s",
		"CALLBACK_SEQ_CACHE_SIZE": "-1", "CALLBACK_SEQ_CACHE_TTL": "1m", "CALLBACK_PPROF": "127.0.0.1:6061",
	})
	cfg, opt, err := parseConfig([]string{"-secret", "fromflag", "-events-replicas", "1", "-seq-cache-ttl", "2m"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SeqCacheSize != -1 || cfg.SeqCacheTTL != 2*time.Minute || opt.pprof != "127.0.0.1:6061" {
		t.Errorf("cache/pprof settings: %d %s %q", cfg.SeqCacheSize, cfg.SeqCacheTTL, opt.pprof)
	}
	if d := DefaultConfig(); d.SeqCacheSize != DefaultSeqCacheSize || d.SeqCacheTTL != DefaultSeqCacheTTL {
		t.Errorf("cache defaults: %+v", d)
	}
	if cfg.Addr != ":9000" || cfg.Secret != "fromflag" || len(cfg.AllowCIDRs) != 2 || cfg.AllowCIDRs[1].String() != "192.0.2.7/32" ||
		cfg.MaxBody != 4096 || cfg.TimeZone != "UTC" || cfg.NATSURL != "nats://n:4222" || cfg.LogLevel != "debug" ||
		cfg.EventsMaxAge != 48*time.Hour || cfg.EventsReplicas != 1 || cfg.PublishTimeout != 3*time.Second {
		t.Errorf("env + flags: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}

	for _, bad := range []map[string]string{
		{"CALLBACK_MAX_BODY": "lots"},
		{"CALLBACK_ALLOW_CIDRS": "10.0.0.0/33"},
		{"CALLBACK_LOCAL": "maybe"},
		{"CALLBACK_EVENTS_MAX_AGE": "forever"},
	} {
		if _, _, err := parseConfig(nil, mapEnv(bad), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	for _, c := range []Config{
		{Secret: "x", TimeZone: "Mars/Olympus"},
		{Secret: "a/b"},
		{Secret: "x", EventsReplicas: 7},
		{Secret: "x", MaxBody: 10},
		{Secret: "x", SeqCacheSize: -2},
		{Secret: "x", SeqCacheTTL: -time.Second},
	} {
		if err := c.withDefaults().Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, _, err := parseConfig([]string{"extra"}, mapEnv(nil), io.Discard); err == nil {
		t.Error("stray argument accepted")
	}
}

// Run serves until its context ends; -healthcheck probes it.
func TestRun(t *testing.T) {
	ns := testkit.StartNATS(t)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-addr", "127.0.0.1:0", "-ops-addr", "127.0.0.1:0", "-local", "-pprof", "127.0.0.1:0"}, mapEnv(map[string]string{"NATS_URL": ns.ClientURL()}), pw)
		pw.Close()
	}()
	// The "listening" log line names the address.
	addrc, pprofc := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				addrc <- line.Addr
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "pprof endpoints on" {
				pprofc <- line.Addr
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line")
	}
	base := "http://" + addr
	resp, err := http.Post(base+"/yt/local/created", "text/plain",
		strings.NewReader(xmlBody("Request", "confid", "8001", "createtime", "20261128103000")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != EmptyResponse {
		t.Fatalf("callback: %d %q", resp.StatusCode, b)
	}
	if err := Run(context.Background(), []string{"-healthcheck", "-addr", addr}, mapEnv(nil), io.Discard); err != nil {
		t.Errorf("healthcheck of a live server: %v", err)
	}
	// -pprof: the profiles on their own listener, never on the callback port.
	pprofAddr := <-pprofc
	for _, c := range []struct {
		url  string
		code int
		want string
	}{
		{"http://" + pprofAddr + "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile"},
		{"http://" + pprofAddr + "/debug/pprof/nope", http.StatusNotFound, "heap"},
		{base + "/debug/pprof/goroutine?debug=1", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("GET %s: %d %.80q", c.url, resp.StatusCode, b)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop")
	}
	if err := Run(context.Background(), []string{"-healthcheck", "-addr", addr}, mapEnv(nil), io.Discard); err == nil {
		t.Error("healthcheck of a stopped server succeeded")
	}
	if err := Run(context.Background(), nil, mapEnv(nil), io.Discard); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Run without a secret: %v", err)
	}
}
