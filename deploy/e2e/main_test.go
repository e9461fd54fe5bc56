package e2e

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines outlive the tests: every stack is
// torn down by t.Cleanup, so after the last test the process must be back
// to the goroutines it started with (HTTP keep-alive readers of idle
// connections excepted: they are the transports' pools, not leaks).
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		var left int
		for {
			left = countNonIdle()
			if left <= base || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if left > base {
			fmt.Fprintf(os.Stderr, "e2e: %d goroutines left after the tests (started with %d):\n", left, base)
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			code = 1
		}
	}
	os.Exit(code)
}

// countNonIdle counts goroutines, leaving out those of idle pooled HTTP
// connections.
func countNonIdle() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	count := 0
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "net/http.(*persistConn)") {
			continue
		}
		count++
	}
	return count
}
