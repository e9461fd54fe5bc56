// Package pii keeps phone numbers, the personal data confapplet handles,
// out of its logs: Number masks one number, Text every number-looking digit
// run in free text (a raw callback body, an error), and Writer every log line
// a service writes (logging.New puts it under every logger).
//
// The rule (docs/operations.md, "Personal data"): a country prefix "+86",
// "0086" or "86" before an 11-digit mainland number stays visible; of the
// remaining n digits, with n ≥ 11 the first 3 and the last 4 stay
// (13800138005 → 138****8005, 075512345678 → 075*****5678), with 8 ≤ n ≤ 10
// the last 4 stay, and with fewer than 8 none does. So at most 7 digits of a
// number are ever shown and at least 4 are always hidden. Separators ('-',
// ' ') and the length stay, so masked logs still line up. In free text a run
// is taken for a number from 9 digits on (text.go says why), in a field
// that holds numbers from 5.
package pii

// Number masks one phone number by the package's rule. Characters other
// than digits are kept where they are.
func Number(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := []byte(s)
	maskDigits(b, n)
	return string(b)
}

// maskDigits masks, in place, the n digits of b (a number, possibly with a
// '+' and separators) by the rule.
func maskDigits(b []byte, n int) {
	skip := prefixDigits(b, n) // country prefix digits, left visible
	rest := n - skip
	first, last := 0, 0
	switch {
	case rest >= 11:
		first, last = 3, 4
	case rest >= 8:
		last = 4
	}
	k := 0 // index among the digits after the prefix
	for i := range b {
		if !isDigit(b[i]) {
			continue
		}
		if j := k - skip; j >= 0 && j >= first && j < rest-last {
			b[i] = '*'
		}
		k++
	}
}

// prefixDigits is how many leading digits of b are the mainland country
// prefix (86 or 0086, with or without '+') in front of an 11-digit number
// starting with 1: those stay visible, since they say nothing of the person.
func prefixDigits(b []byte, n int) int {
	d := make([]byte, 0, 4)
	for i := 0; i < len(b) && len(d) < 5; i++ {
		if isDigit(b[i]) {
			d = append(d, b[i])
		}
	}
	switch {
	case n == 15 && string(d[:4]) == "0086" && d[4] == '1':
		return 4
	case n == 13 && string(d[:2]) == "86" && d[2] == '1':
		return 2
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
