package edge_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"

	"confapplet/pkg/logging"
	"confapplet/svc-edge/edge"

	"github.com/nats-io/nats.go"
)

// Serve an edge in-process and learn its address (tests, the local stack).
func ExampleServe() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cfg := edge.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"                       // any free port
	cfg.OpsAddr = ""                               // no ops listener (/metrics: srv.OpsHandler())
	cfg.NATSURL = "nats://127.0.0.1:4222"          // e.g. natsembed's ClientURL()
	cfg.AuthSecret = os.Getenv("EDGE_AUTH_SECRET") // HS256 key of connection tokens (or cfg.InsecureNoAuth = true)
	ready := make(chan string, 1)
	cfg.OnListen = func(addr string) { ready <- addr }
	go func() { _ = edge.Serve(ctx, cfg, logging.New(os.Stdout, "info", "svc-edge")) }()
	fmt.Println("ws://" + <-ready + "/client/alice")
}

// Build an edge on a NATS connection you own and serve its handler yourself.
func ExampleNew() {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		return
	}
	defer nc.Close()
	cfg := edge.DefaultConfig()
	cfg.AuthJWKSURL = "https://auth.example.com/.well-known/jwks.json" // the back end signs, the edge verifies
	srv, err := edge.New(cfg, nc, logging.New(os.Stdout, "info", "svc-edge"))
	if err != nil {
		return
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Shutdown(context.Background()) // closes sessions with 1001; nc stays open
	fmt.Println(ts.URL)
}
