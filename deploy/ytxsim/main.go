// Command ytxsim serves the Yuntongxun platform simulator (confapplet/pkg/ytxsim)
// on :8883. Configuration: `ytxsim -h`, and docs/yuntongxun.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // callback times are in Asia/Shanghai even on hosts without zoneinfo

	"confapplet/pkg/ytxsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ytxsim.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ytxsim:", err)
		os.Exit(1)
	}
}
