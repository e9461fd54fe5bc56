package main

import "bytes"

// target is what to erase: a number (its national digits) or a conference.
type target struct{ number, conf string }

// national is the digits of a phone number without the mainland country
// prefix (86, 0086, +86) in front of an 11-digit mobile number, so that
// "+86 138-0013-8005" and "13800138005" are the same person.
func national(s string) string {
	d := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	switch {
	case len(d) == 13 && string(d[:2]) == "86" && d[2] == '1':
		d = d[2:]
	case len(d) == 15 && string(d[:4]) == "0086" && d[4] == '1':
		d = d[4:]
	}
	return string(d)
}

// matchNumber reports whether n is the target's number.
func (t target) matchNumber(n string) bool {
	return t.number != "" && n != "" && national(n) == t.number
}

// containsNumber reports whether data holds digits as a number of its own:
// not part of a longer digit run, except a country prefix 86 or 0086
// right in front of it.
func containsNumber(data []byte, digits string) bool {
	if digits == "" {
		return false
	}
	d := []byte(digits)
	for off := 0; ; {
		i := bytes.Index(data[off:], d)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(d)
		j := start
		if bytes.HasSuffix(data[:j], []byte("86")) {
			j -= 2
			if bytes.HasSuffix(data[:j], []byte("00")) {
				j -= 2
			}
		}
		if (j == 0 || !isDigit(data[j-1])) && (end == len(data) || !isDigit(data[end])) {
			return true
		}
		off = start + 1
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
