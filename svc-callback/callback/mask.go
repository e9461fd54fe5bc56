package callback

import "regexp"

// Phone numbers are personal data: log lines show only enough of them to
// tell calls apart (138****8005). Mobile numbers (11 digits from 1[3-9]) and
// landlines with their area code (0 + 9–11 digits) are masked; a confid
// (4–8 digits) and the digits inside a 32-character callid (no word
// boundary there) are not.
var (
	mobilePattern   = regexp.MustCompile(`\b((?:86)?1[3-9][0-9])[0-9]{4}([0-9]{4})\b`)
	landlinePattern = regexp.MustCompile(`\b(0[0-9]{2,3}?)[0-9]{2,4}([0-9]{4})\b`)
)

// maskNumbers masks the phone numbers in s.
func maskNumbers(s string) string {
	s = mobilePattern.ReplaceAllString(s, "${1}****${2}")
	return landlinePattern.ReplaceAllString(s, "${1}****${2}")
}
