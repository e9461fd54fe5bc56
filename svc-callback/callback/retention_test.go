package callback

import (
	"context"
	"testing"
	"time"

	"confapplet/pkg/contract"
)

// TestRetention: both streams that hold phone numbers are created with the
// configured max ages, 7 days each by default (docs/operations.md,
// "Personal data"), and a changed age is applied to the existing streams.
func TestRetention(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	check := func(events, raw time.Duration) {
		t.Helper()
		in := e.start(func(c *Config) {
			c.EventsMaxAge, c.RawMaxAge = events, raw
		})
		// The raw stream is made on the first callback or readiness check.
		if code, body := in.get(t, "/readyz"); code != 200 {
			t.Fatalf("readyz %d %s", code, body)
		}
		for name, want := range map[string]time.Duration{contract.EventsStream: events, RawStream: raw} {
			if want == 0 {
				want = 7 * 24 * time.Hour
			}
			s, err := e.js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.MaxAge; got != want {
				t.Errorf("%s MaxAge %v, want %v", name, got, want)
			}
		}
	}
	check(0, 0)
	check(20*time.Minute, 3*time.Hour)
}
