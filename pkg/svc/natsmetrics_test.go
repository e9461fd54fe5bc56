package svc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/testkit"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// The ops listener's /metrics says whether the service is connected to
// NATS and how often it reconnected, following the server going away and
// coming back.
func TestOpsExportsNATSState(t *testing.T) {
	ns := testkit.StartNATS(t)
	p := NewProcess(zerolog.Nop())
	nc, err := p.Connect(NATS{URL: ns.ClientURL(), Name: "svc-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := nc.WaitConnected(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	addr, err := p.ServeOps("127.0.0.1:0", Ops{Registry: prometheus.NewRegistry()}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, Stop{Cap: time.Second}) }()
	defer func() { cancel(); <-done }()
	metric := func(name string) string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return "absent"
	}
	testkit.Eventually(t, "connected 1", 5*time.Second, func() bool { return metric("confapplet_nats_connected") == "1" })
	if v := metric("confapplet_nats_reconnects_total"); v != "0" {
		t.Fatalf("reconnects %s before any", v)
	}
	ns.Stop()
	testkit.Eventually(t, "connected 0 while NATS is down", 10*time.Second, func() bool { return metric("confapplet_nats_connected") == "0" })
	ns.Start()
	testkit.Eventually(t, "connected 1 again", 20*time.Second, func() bool { return metric("confapplet_nats_connected") == "1" })
	if v := metric("confapplet_nats_reconnects_total"); v != "1" {
		t.Errorf("reconnects %s after one outage, want 1", v)
	}
}
