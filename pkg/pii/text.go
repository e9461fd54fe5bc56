package pii

import "time"

// The fewest digits a run needs to be taken for a phone number. In free
// text, 9: every number the toll-fraud guard lets svc-conference dial has
// 10 or more (a mobile 11, a landline with its area code 10–12), while a
// conference id has at most 8 and stays readable. In a field that holds
// numbers (numberFields), 5: there a short number is a number too.
const (
	minDigits      = 9
	minFieldDigits = 5
)

// Text masks, by the rule of Number, every run in s that looks like a phone
// number: at least 9 digits, an optional leading '+', groups of at least 3
// digits joined by one '-' or ' ' ("0755-12345678", "+86 138 0013 8005"),
// with no letter or digit right before or after it (so a 32-character call
// id and a date "2026-12-01" are left as they are), and not a platform
// timestamp (14 digits yyyyMMddHHmmss).
func Text(s string) string {
	b := []byte(s)
	if !maskRuns(b, minDigits) {
		return s
	}
	return string(b)
}

// maskRuns masks every number-looking run of b with at least min digits in
// place and reports whether it changed anything.
func maskRuns(b []byte, min int) bool {
	changed := false
	for i := 0; i < len(b); {
		start, end, n := nextRun(b, i)
		if start < 0 {
			break
		}
		if n >= min && !timestamp(b[start:end]) {
			maskDigits(b[start:end], n)
			changed = true
		}
		i = end
	}
	return changed
}

// hasRun reports whether maskRuns(b, min) would change b.
func hasRun(b []byte, min int) bool {
	for i := 0; i < len(b); {
		start, end, n := nextRun(b, i)
		if start < 0 {
			return false
		}
		if n >= min && !timestamp(b[start:end]) {
			return true
		}
		i = end
	}
	return false
}

// timestamp reports whether run is the platform's time format
// (yyyyMMddHHmmss, 14 digits, this century): no phone number has that
// shape, and raw callback bodies are full of them.
func timestamp(run []byte) bool {
	if len(run) != 14 || run[0] != '2' || run[1] != '0' {
		return false
	}
	_, err := time.Parse("20060102150405", string(run))
	return err == nil
}

// nextRun finds the first run at or after i: its bounds and its digit
// count, or start -1. A run too short or not bounded is still returned
// (with n 0) so the caller moves past it.
func nextRun(b []byte, i int) (start, end, n int) {
	for ; i < len(b); i++ {
		if isDigit(b[i]) || b[i] == '+' && i+1 < len(b) && isDigit(b[i+1]) {
			break
		}
	}
	if i >= len(b) {
		return -1, -1, 0
	}
	start = i
	if b[i] == '+' {
		i++
	}
	for {
		g := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		n += i - g
		// A separator continues the run only before a group of 3 or more
		// digits, which dates and times do not have.
		if i+1 < len(b) && (b[i] == '-' || b[i] == ' ') && groupLen(b, i+1) >= 3 {
			i++
			continue
		}
		break
	}
	end = i
	if !boundedBefore(b, start) || end < len(b) && isAlnum(b[end]) {
		// Inside a word or id: skip the whole alphanumeric stretch.
		for end < len(b) && isAlnum(b[end]) {
			end++
		}
		return start, end, 0
	}
	return start, end, n
}

func groupLen(b []byte, i int) int {
	j := i
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	return j - i
}

// boundedBefore reports whether the run at start begins a token: nothing
// alphanumeric before it, or a JSON escape such as \n (a raw body's line
// break as it appears inside a JSON log line).
func boundedBefore(b []byte, start int) bool {
	if start == 0 || !isAlnum(b[start-1]) {
		return true
	}
	return start >= 2 && b[start-2] == '\\' && b[start-1] != 'u'
}
