// Command svc-edge serves browsers' WebSocket JSON-RPC and fans conference
// events out to them. Settings: svc-edge/CONFIG.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"confapplet/svc-edge/edge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := edge.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "svc-edge:", err)
		os.Exit(1)
	}
}
