package edge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Connection tokens (Config.AuthSecret, -auth-secret): when the edge has a
// secret, a connection must present ?token=<exp>.<mac>, where exp is the
// token's expiry in Unix seconds (decimal) and mac is the lower-case hex
// HMAC-SHA256, keyed with the secret, of client_id + "." + exp. The
// operator's back end, which knows who the browser is, issues it
// (SignToken); a missing, wrong or expired token is refused with HTTP 401
// before the upgrade.

// SignToken returns the connection token for clientID, valid until exp, as
// the edge with the given secret expects it in ?token=.
func SignToken(secret, clientID string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + hex.EncodeToString(tokenMAC(secret, clientID, e))
}

func tokenMAC(secret, clientID, exp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(clientID))
	m.Write([]byte{'.'})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// maxTokenLen bounds ?token=: 20 digits, the dot, 64 hex digits.
const maxTokenLen = 20 + 1 + 2*sha256.Size

// checkToken verifies token for clientID at now; "" means valid, else the
// reason it is not (for the 401 and the log; it says nothing about the
// secret).
func checkToken(secret, clientID, token string, now time.Time) string {
	if token == "" {
		return "token missing"
	}
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > maxTokenLen || exp == "" || len(sig) != 2*sha256.Size {
		return "token invalid"
	}
	for i := 0; i < len(exp); i++ {
		if exp[i] < '0' || exp[i] > '9' {
			return "token invalid"
		}
	}
	expSec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "token invalid"
	}
	want := make([]byte, 2*sha256.Size)
	hex.Encode(want, tokenMAC(secret, clientID, exp))
	// Constant time, on the hex form: no decoding step that fails early.
	if !hmac.Equal(want, []byte(strings.ToLower(sig))) {
		return "token invalid"
	}
	if now.Unix() >= expSec {
		return "token expired"
	}
	return ""
}
