// Command svc-callback is the HTTP endpoint the telephony platform calls
// back; see package confapplet/svc-callback/callback and CONFIG.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"confapplet/svc-callback/callback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := callback.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "svc-callback:", err)
		stop()
		os.Exit(1)
	}
}
