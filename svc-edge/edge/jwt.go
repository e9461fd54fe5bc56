package edge

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"
	"confapplet/pkg/token"
	"confapplet/pkg/tracing"

	"github.com/golang-jwt/jwt/v5"
)

// Connection tokens are JWTs (pkg/token, docs/protocol.md §1.2a). The edge
// verifies them with what it is given: an HS256 shared secret
// (Config.AuthSecret), an RS256/ES256 public key in a PEM file
// (Config.AuthPublicKey) or a JWKS URL (Config.AuthJWKSURL), so that a
// deployment can keep the signing key on its back end only. A token must
// name the client id in sub, carry exp, and live no longer than
// Config.AuthMaxLifetime.

// identity is what a verified token grants a connection.
type identity struct {
	operator bool
	watch    string // confids joined by ',' (the Confapplet-Watch header)
	exp      time.Time
}

// verifier checks connection tokens.
type verifier struct {
	secret  []byte           // HS256
	pub     crypto.PublicKey // RS256 or ES256, from a file
	jwks    *jwks            // RS256/ES256 by kid
	maxLife time.Duration
	opts    []jwt.ParserOption
}

// newVerifier builds the verifier of cfg; nil when cfg has no token key.
func newVerifier(cfg Config) (*verifier, error) {
	v := &verifier{maxLife: cfg.AuthMaxLifetime}
	var methods []string
	if cfg.AuthSecret != "" {
		v.secret = []byte(cfg.AuthSecret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.AuthPublicKey != "" {
		pub, err := readPublicKey(cfg.AuthPublicKey)
		if err != nil {
			return nil, err
		}
		v.pub = pub
		switch pub.(type) {
		case *rsa.PublicKey:
			methods = append(methods, jwt.SigningMethodRS256.Alg())
		case *ecdsa.PublicKey:
			methods = append(methods, jwt.SigningMethodES256.Alg())
		}
	}
	if cfg.AuthJWKSURL != "" {
		v.jwks = newJWKS(cfg.AuthJWKSURL, &http.Client{Timeout: 5 * time.Second})
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if len(methods) == 0 {
		return nil, nil
	}
	// A little leeway for the clocks of the back end that signs and of the
	// edge: a token issued "in the future" by a second is not forged.
	v.opts = []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew)}
	return v, nil
}

// readPublicKey reads an RSA or P-256 ECDSA public key (PKIX "PUBLIC KEY"
// or a certificate) from a PEM file.
func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth-public-key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("auth-public-key %s: no PEM block", path)
	}
	var pub any
	switch blk.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth-public-key %s: %w", path, err)
		}
		pub = cert.PublicKey
	default:
		if pub, err = x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
			return nil, fmt.Errorf("auth-public-key %s: %w", path, err)
		}
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("auth-public-key %s: ES256 needs a P-256 key", path)
		}
		return k, nil
	}
	return nil, fmt.Errorf("auth-public-key %s: %T is neither RSA nor ECDSA", path, pub)
}

// key is the jwt.Keyfunc: the key matching the token's algorithm (and kid,
// for a JWKS). A secret is never offered for RS/ES tokens nor a public key
// for HS ones, so no algorithm confusion is possible.
func (v *verifier) key() jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			if v.secret != nil {
				return v.secret, nil
			}
		case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
			kid, _ := t.Header["kid"].(string)
			if v.jwks != nil && (kid != "" || v.pub == nil) {
				return v.jwks.key(kid, t.Method.Alg())
			}
			if v.pub != nil {
				return v.pub, nil
			}
		}
		return nil, errors.New("no key for this algorithm")
	}
}

// Reasons a token is refused (the HTTP 401 body, the RefreshToken error).
const (
	whyMissing  = "token missing"
	whyInvalid  = "token invalid"
	whyExpired  = "token expired"
	whyLifetime = "token lifetime exceeds the maximum"
	whyClient   = "token is for another client id"
	whyClaims   = "token claims invalid"
)

// minSecretLen is the shortest HS256 secret the edge does not warn about
// (RFC 7518 §3.2: a key of at least the hash's size, 256 bits).
const minSecretLen = 32

// clockSkew is the leeway of exp, nbf and iat checks.
const clockSkew = 5 * time.Second

// maxTokenLen bounds a token: it is carried in a URL.
const maxTokenLen = 8192

// verify checks tok for clientID at now: the identity, or why not.
func (v *verifier) verify(tok, clientID string, now time.Time) (identity, string) {
	if tok == "" {
		return identity{}, whyMissing
	}
	if len(tok) > maxTokenLen {
		return identity{}, whyInvalid
	}
	var c token.Claims
	p := jwt.NewParser(append(slices.Clip(v.opts), jwt.WithTimeFunc(func() time.Time { return now }))...)
	_, err := p.ParseWithClaims(tok, &c, v.key())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return identity{}, whyExpired
	case err != nil:
		return identity{}, whyInvalid
	}
	if c.Subject != clientID {
		return identity{}, whyClient
	}
	exp := c.ExpiresAt.Time
	if exp.Sub(now) > v.maxLife || c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time) > v.maxLife {
		return identity{}, whyLifetime
	}
	id := identity{exp: exp}
	switch c.Role {
	case "":
	case token.RoleOperator:
		id.operator = true
	default:
		return identity{}, whyClaims
	}
	if len(c.Watch) > token.MaxWatch {
		return identity{}, whyClaims
	}
	for _, w := range c.Watch {
		if !contract.ConfIDPattern.MatchString(w) {
			return identity{}, whyClaims
		}
	}
	id.watch = strings.Join(c.Watch, ",")
	return id, ""
}

// bearer is the token of an upgrade request: the Authorization header
// (non-browser clients; it keeps the token out of URLs) or ?token=.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return r.URL.Query().Get("token")
}

// refreshToken is RefreshToken: a valid token for the session's client id
// replaces the connection's identity and moves the time the edge closes
// the connection (4004) to the new expiry. A refused token changes
// nothing: the connection still closes at the old expiry.
func (srv *Server) refreshToken(ctx context.Context, s *session, c jsonrpc.Call, _ string) (json.RawMessage, *jsonrpc.Error, func()) {
	tok := c.Args.String("token")
	if srv.auth == nil {
		b, _ := json.Marshal(contract.RefreshTokenResult{})
		return b, nil, nil
	}
	id, why := srv.auth.verify(tok, s.clientID, time.Now())
	if why != "" {
		srv.metrics.rejected.WithLabelValues("auth").Inc()
		tracing.Tag(ctx, s.logInfo()).Str("why", why).Msg("token refresh refused")
		return nil, jsonrpc.FromContract(contract.Errorf(contract.CodeUnauthorized, "%s", why).
			WithData(contract.UnauthorizedData{Reason: why})), nil
	}
	s.setIdentity(id)
	tracing.Tag(ctx, s.logDebug()).Time("exp", id.exp).Msg("token refreshed")
	b, _ := json.Marshal(contract.RefreshTokenResult{Exp: id.exp.Unix()})
	return b, nil, nil
}
