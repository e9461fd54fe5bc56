package pii

import (
	"bytes"
	"io"
)

// idFields are the log fields Writer leaves alone: identifiers and the
// fields every line has, none of which is a phone number, and some of which
// (a 7- or 8-digit conference id) would otherwise look like one.
var idFields = map[string]bool{
	"time": true, "level": true, "service": true, "instance": true,
	"conf_id": true, "call_id": true, "client_id": true, "req_id": true,
	"method": true, "subject": true, "trace_id": true, "span_id": true,
}

// numberFields are the log fields that hold phone numbers: in them a
// shorter digit run is masked too (minFieldDigits).
var numberFields = map[string]bool{
	"number": true, "numbers": true, "to": true, "from": true, "caller": true, "called": true, "phone": true,
}

// Writer masks every phone number in the log lines written through it
// before they reach w. A line that is a JSON object (zerolog writes one per
// Write) has Text applied to each string value except those of the
// identifier fields; any other line is masked as a whole. Lines with
// nothing to mask are passed on unchanged, without a copy.
func Writer(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct{ w io.Writer }

func (m *writer) Write(p []byte) (int, error) {
	var out []byte
	if t := bytes.TrimLeft(p, " \t"); len(t) > 0 && t[0] == '{' {
		out = maskJSONValues(p)
	} else if hasRun(p, minDigits) {
		out = append([]byte(nil), p...)
		maskRuns(out, minDigits)
	}
	if out == nil {
		return m.w.Write(p)
	}
	if _, err := m.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// maskJSONValues returns a masked copy of the JSON line p, or nil when no
// string value needs masking. It walks the strings of p: a string followed
// by ':' is a key, any other a value of the last key.
func maskJSONValues(p []byte) []byte {
	var out []byte
	skip := false    // the current value belongs to an identifier field
	min := minDigits // digits of the shortest run masked in the current value
	for i := 0; i < len(p); i++ {
		if p[i] != '"' {
			continue
		}
		start := i + 1
		end := start
		for end < len(p) && p[end] != '"' {
			if p[end] == '\\' {
				end++
			}
			end++
		}
		if end > len(p) {
			end = len(p)
		}
		j := end + 1
		for j < len(p) && (p[j] == ' ' || p[j] == '\t') {
			j++
		}
		if j < len(p) && p[j] == ':' {
			// No allocation: map lookups by converted bytes.
			skip = idFields[string(p[start:end])]
			min = minDigits
			if numberFields[string(p[start:end])] {
				min = minFieldDigits
			}
		} else if !skip && hasRun(p[start:end], min) {
			if out == nil {
				out = append([]byte(nil), p...)
			}
			maskRuns(out[start:end], min)
		}
		i = end
	}
	return out
}
