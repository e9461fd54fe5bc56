// Package token is the connection token of the browser protocol
// (docs/protocol.md §1.2a): a JWT whose claims name the client id (sub),
// its expiry (exp, required), optionally the operator role and the
// conferences the client may watch without owning them. svc-edge verifies
// these tokens (svc-edge/edge/jwt.go); a customer's back end signs them with
// any JWT library, and Go code here (tests, benchmarks, deploy/token) signs
// them with Sign.
package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"confapplet/pkg/contract"

	"github.com/golang-jwt/jwt/v5"
)

// RoleOperator is the value of the role claim that lets a client act on
// and read every conference.
const RoleOperator = contract.RoleOperator

// MaxWatch bounds the watch claim: a token is carried in a URL.
const MaxWatch = 64

// Claims are a connection token's claims.
type Claims struct {
	// Role is "operator" for an operator; empty for a plain client.
	Role string `json:"role,omitempty"`
	// Watch lists confids the client may watch and read (WatchConf, GetConf,
	// QueryConfState) though it does not own them.
	Watch []string `json:"watch,omitempty"`
	jwt.RegisteredClaims
}

// New returns the claims of a token for clientID issued at now and valid
// for ttl.
func New(clientID string, now time.Time, ttl time.Duration) Claims {
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   clientID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
}

// Sign signs c with key: a []byte (or string) secret gives HS256, an
// *rsa.PrivateKey RS256, an *ecdsa.PrivateKey (P-256) ES256. kid, when not
// empty, goes in the header (the edge looks it up in a JWKS).
func Sign(key any, kid string, c Claims) (string, error) {
	var m jwt.SigningMethod
	switch k := key.(type) {
	case string:
		key, m = []byte(k), jwt.SigningMethodHS256
	case []byte:
		m = jwt.SigningMethodHS256
	case *rsa.PrivateKey:
		m = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("token: ES256 needs a P-256 key")
		}
		m = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("token: unsupported key type %T", key)
	}
	if c.Subject == "" || c.ExpiresAt == nil {
		return "", errors.New("token: sub and exp are required")
	}
	t := jwt.NewWithClaims(m, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return s, nil
}

// HS256 is Sign with a shared secret for clientID, valid for ttl from now;
// it panics only on an empty client id (a programming error).
func HS256(secret, clientID string, ttl time.Duration) string {
	s, err := Sign(secret, "", New(clientID, time.Now(), ttl))
	if err != nil {
		panic(err)
	}
	return s
}
