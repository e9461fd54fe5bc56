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
