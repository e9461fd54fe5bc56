package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is every binary's run: settings from args and getenv, logs and
// usage to stdout, until ctx ends.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Main is every binary's main: run with the process's arguments and
// environment until SIGINT or SIGTERM, then exit 0, or 1 with the error on
// stderr. -h (ErrHelp) exits 0.
func Main(name string, run RunFunc) {
	os.Exit(exitCode(name, run, os.Args[1:], os.Stderr))
}

func exitCode(name string, run RunFunc, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, args, os.Getenv, os.Stdout)
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
