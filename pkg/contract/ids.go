package contract

// The one implementation of the identifier formats (ConfIDPattern and its
// siblings say the same as regular expressions, which are ten times slower
// on the request path).

// ValidConfID reports whether s is a conference id: 4–8 digits.
func ValidConfID(s string) bool { return len(s) >= 4 && len(s) <= 8 && allDigits(s) }

// ValidCallID reports whether s is a call id: 32 letters or digits.
func ValidCallID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// ValidClientID reports whether s is a client id: 1–64 letters, digits,
// '_' or '-'.
func ValidClientID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidKey reports whether s is an idempotency key: 1–128 printable ASCII
// characters, no spaces.
func ValidKey(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// ValidToken accepts what a compact JWT is made of: base64url characters
// and dots, 1–8192 of them (the edge verifies the token itself).
func ValidToken(s string) bool {
	if len(s) < 1 || len(s) > 8192 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
