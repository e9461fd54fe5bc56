package pii

import (
	"bytes"
	"strings"
	"testing"
)

func TestNumber(t *testing.T) {
	for in, want := range map[string]string{
		"13800138005":        "138****8005",
		"+8613800138005":     "+86138****8005",
		"8613800138005":      "86138****8005",
		"008613800138005":    "0086138****8005",
		"075512345678":       "075*****5678",
		"0755-12345678":      "075*-****5678",
		"01012345678":        "010****5678",
		"6234567890":         "******7890", // 10 digits: the last 4
		"62345678":           "****5678",
		"6234567":            "*******", // a local number: nothing shown
		"10086":              "*****",
		"":                   "",
		"anonymous":          "anonymous",
		"+44 20 7946 0958":   "+44 2* **** 0958",
		"123456789012345678": "123***********5678",
	} {
		if got := Number(in); got != want {
			t.Errorf("Number(%q) = %q, want %q", in, got, want)
		}
	}
}

// No input shows more than 7 digits, or fewer than 4 hidden.
func TestNumberNeverRevealsMuch(t *testing.T) {
	for n := 1; n <= 24; n++ {
		s := strings.Repeat("7", n)
		got := Number(s)
		shown := strings.Count(got, "7")
		if shown > 7 || n-shown < min(4, n) {
			t.Errorf("%d digits: %q shows %d", n, got, shown)
		}
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`<to>13800138005</to><from>+8613912345678</from>`:              `<to>138****8005</to><from>+86139****5678</from>`,
		`called=0755-12345678&x=1`:                                     `called=075*-****5678&x=1`,
		`line1\n13800138005`:                                           `line1\n138****8005`,
		`call 26120100222100019f3c0a7b2d4e5f60 on 2026-12-01 00:22:21`: `call 26120100222100019f3c0a7b2d4e5f60 on 2026-12-01 00:22:21`,
		`conf 12345678 seq 42 at 20261128103000`:                       `conf 12345678 seq 42 at 20261128103000`, // ids and platform times stay
		`local 623456789`:                                              `local *****6789`,
		`x13800138005`:                                                 `x13800138005`, // inside a word: not a number on its own
		`nothing here`:                                                 `nothing here`,
		`+86 138 0013 8005.`:                                           `+86 138 **** 8005.`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := Writer(&out)
	lines := []string{
		`{"level":"info","time":"2026-12-01T00:22:21.123456789Z","conf_id":"12345678","call_id":"26120100222100019f3c0a7b2d4e5f60","number":"13800138005","message":"invited"}` + "\n",
		`{"level":"warn","raw":"<to>13900000001</to>\n<confid>12345678</confid>","error":"number \"075512345678\" refused","numbers":"6234567#13800138005","message":"callback not understood"}` + "\n",
		`{"level":"info","seq":13800138005,"message":"no string value to mask"}` + "\n",
		"plain text 13800138005\n",
		// Trace ids are hex; one may be all digits, and is still no number.
		`{"level":"info","trace_id":"13800138005138001380051380013800","span_id":"1380013800513800","message":"traced"}` + "\n",
	}
	want := []string{
		`{"level":"info","time":"2026-12-01T00:22:21.123456789Z","conf_id":"12345678","call_id":"26120100222100019f3c0a7b2d4e5f60","number":"138****8005","message":"invited"}` + "\n",
		`{"level":"warn","raw":"<to>139****0001</to>\n<confid>12345678</confid>","error":"number \"075*****5678\" refused","numbers":"*******#138****8005","message":"callback not understood"}` + "\n",
		lines[2],
		"plain text 138****8005\n",
		lines[4],
	}
	for i, l := range lines {
		n, err := w.Write([]byte(l))
		if err != nil || n != len(l) {
			t.Fatalf("Write: %d, %v", n, err)
		}
		if got := out.String(); got != want[i] {
			t.Errorf("line %d\n got %s\nwant %s", i, got, want[i])
		}
		out.Reset()
	}
}

func BenchmarkWriterNothingToMask(b *testing.B) {
	line := []byte(`{"level":"info","service":"svc-edge","time":"2026-12-01T00:22:21.123456789Z","conf_id":"12345678","client_id":"c1","method":"GetConf","took":0.5,"message":"request"}` + "\n")
	w := Writer(discard{})
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
