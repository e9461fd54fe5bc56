package conference

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind
// (services, consumers, watchers, HTTP clients).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
