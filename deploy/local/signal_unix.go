//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// toggleEdgeSignal delivers SIGUSR1: `kill -USR1 <pid>` stops svc-edge (every
// page sees its socket close with 1001 and starts reconnecting); the next
// SIGUSR1 starts it again. A way to watch the page reconnect and resume.
func toggleEdgeSignal() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	return c, func() { signal.Stop(c) }
}
