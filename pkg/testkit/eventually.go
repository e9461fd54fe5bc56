package testkit

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually checks its condition: short enough
// that a test waits little past the moment the condition holds.
const pollEvery = 5 * time.Millisecond

// Eventually polls cond until it holds, and fails t with "timed out waiting
// for <what>" when within passes first.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}

// Receive returns the first value from ch that match accepts (skipping the
// others), and fails t when ch closes or within passes first.
func Receive[T any](t testing.TB, ch <-chan T, within time.Duration, what string, match func(T) bool) T {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("closed while waiting for %s", what)
			}
			if match(v) {
				return v
			}
		case <-timeout:
			t.Fatalf("no %s within %s", what, within)
		}
	}
}
