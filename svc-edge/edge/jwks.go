package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// jwks holds the public keys of a JWKS URL (RFC 7517), by kid. Keys are
// fetched on first use and again when a token names a kid not in the set
// (a key rotation), at most once per jwksMinRefresh, and in any case after
// jwksMaxAge; a failed fetch keeps the keys it had.
type jwks struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	keys    map[string]any // kid → *rsa.PublicKey | *ecdsa.PublicKey
	fetched time.Time
	err     error
}

const (
	jwksMinRefresh = 30 * time.Second
	jwksMaxAge     = 10 * time.Minute
	jwksMaxBytes   = 1 << 20
)

func newJWKS(url string, c *http.Client) *jwks { return &jwks{url: url, client: c} }

// key returns the key kid of the set, fit for alg.
func (j *jwks) key(kid, alg string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, ok := j.keys[kid]
	if age := time.Since(j.fetched); !ok && age > jwksMinRefresh || age > jwksMaxAge {
		j.refresh()
		k, ok = j.keys[kid]
	}
	if !ok {
		if j.err != nil {
			return nil, fmt.Errorf("jwks: %w", j.err)
		}
		return nil, fmt.Errorf("jwks: no key %q", kid)
	}
	switch k.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" {
			return k, nil
		}
	}
	return nil, fmt.Errorf("jwks: key %q does not fit %s", kid, alg)
}

// refresh fetches the set (j.mu held: concurrent verifications wait for
// one fetch rather than each making their own). The fetch is not bound to
// the request that asked for it (only to the client's timeout): a caller
// that went away must not leave everyone without keys until the next
// refresh.
func (j *jwks) refresh() {
	j.fetched = time.Now()
	keys, err := fetchJWKS(context.Background(), j.client, j.url)
	j.err = err
	if err == nil {
		j.keys = keys
	}
}

func fetchJWKS(ctx context.Context, c *http.Client, url string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, jwksMaxBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		if pub, err := k.public(); err == nil {
			keys[k.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("GET %s: no usable RSA or P-256 key", url)
	}
	return keys, nil
}

// jwk is one key of a set; only public signing keys are used.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k jwk) public() (any, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, errors.New("not a signing key")
	}
	b64 := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if k.Crv != "P-256" || err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC key")
		}
		// The parser checks that the point is on the curve.
		raw := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, err
		}
		return pub, nil
	}
	return nil, errors.New("unsupported key type")
}
