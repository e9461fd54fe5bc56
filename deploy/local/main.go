// Command local runs the whole of confapplet in one process for development:
// an embedded NATS server with JetStream, svc-conference, svc-callback,
// svc-edge (serving the page on http://localhost:8080) and the Yuntongxun
// simulator (or the real platform when YTX_* credentials are set).
//
//	go run ./deploy/local            # data in ./data, Ctrl-C stops it
//	go run ./deploy/local -temp      # a throw-away store
//	go run ./deploy/local -h         # every flag
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		stop()
		os.Exit(1)
	}
}
