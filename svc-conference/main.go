// Command svc-conference runs the conference service (see package
// confapplet/svc-conference/conference and CONFIG.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the platform's time zone, also where the host has none

	"confapplet/svc-conference/conference"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := conference.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "svc-conference:", err)
		os.Exit(1)
	}
}
