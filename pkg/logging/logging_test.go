package logging

import (
	"strings"
	"testing"
)

func TestNewMasksNumbersUnlessFull(t *testing.T) {
	var masked strings.Builder
	log := New(&masked, "info", "svc-test")
	log.Info().Str(ConfID, "12345678").Str("number", "13800138005").Msg("invited")
	if s := masked.String(); strings.Contains(s, "13800138005") || !strings.Contains(s, `"number":"138****8005"`) || !strings.Contains(s, `"conf_id":"12345678"`) {
		t.Fatalf("default logger: %s", s)
	}

	var full strings.Builder
	log = New(&full, "info", "svc-test", FullNumbers(true))
	log.Info().Str("number", "13800138005").Msg("invited")
	lines := strings.Split(strings.TrimSpace(full.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"level":"warn"`) || !strings.Contains(lines[0], "full phone numbers") ||
		!strings.Contains(lines[1], `"number":"13800138005"`) {
		t.Fatalf("full-numbers logger: want the warning then the full number:\n%s", full.String())
	}
}
