//go:build !unix

package main

import "os"

// toggleEdgeSignal: no SIGUSR1 here, so no edge toggling.
func toggleEdgeSignal() (<-chan os.Signal, func()) { return nil, func() {} }
