package edge_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"confapplet/pkg/logging"
	"confapplet/svc-edge/edge"

	"github.com/nats-io/nats.go"
)

// Serve an edge in-process and learn its address (tests, the local stack).
func ExampleServe() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cfg := edge.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"              // any free port
	cfg.OpsAddr = ""                      // no ops listener (/metrics: srv.OpsHandler())
	cfg.NATSURL = "nats://127.0.0.1:4222" // e.g. natsembed's ClientURL()
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
	srv, err := edge.New(edge.DefaultConfig(), nc, logging.New(os.Stdout, "info", "svc-edge"))
	if err != nil {
		return
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Shutdown(context.Background()) // closes sessions with 1001; nc stays open
	fmt.Println(ts.URL)
}

// An operator's back end signs a connection token for a browser; the page
// connects with ?token=<token> to an edge started with the same
// -auth-secret.
func ExampleSignToken() {
	exp := time.Unix(1700000000, 0) // e.g. time.Now().Add(10 * time.Minute)
	token := edge.SignToken("key", "client", exp)
	fmt.Println("/client/client?token=" + token)
	// Output: /client/client?token=1700000000.652860c7b4ad543d0f9ddc619b958a974b340783fa3c9117181d03879ccd49e7
}
