package edge

import (
	"confapplet/pkg/testkit"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/token"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func sign(t testing.TB, key any, kid string, c token.Claims) string {
	t.Helper()
	s, err := token.Sign(key, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refused asserts that dialling alice with query gets HTTP 401 with why.
func refused(t *testing.T, url, name, query, why string) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url+"/client/alice?"+query, nil)
	if err == nil {
		c.Close()
		t.Errorf("%s: connected, want HTTP 401", name)
		return
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: %v, want HTTP 401", name, err)
		return
	}
	var body [256]byte
	n, _ := resp.Body.Read(body[:])
	if got := strings.TrimSpace(string(body[:n])); got != why {
		t.Errorf("%s: body %q, want %q", name, got, why)
	}
}

// With an HS256 secret the upgrade needs a valid token for the client id:
// forged, expired, over-long-lived, other-client and malformed tokens are
// HTTP 401 before the upgrade, each with its reason.
func TestJWTHS256(t *testing.T) {
	const secret = "s3cret"
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.AuthSecret = secret; c.AuthMaxLifetime = time.Hour })
	now := time.Now()
	good := token.New("alice", now, 10*time.Minute)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp := good
	noExp.ExpiresAt = nil
	noExpTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, noExp).SignedString([]byte(secret))
	longIat := token.New("alice", now.Add(-2*time.Hour), 2*time.Hour+time.Minute) // exp-now fine, exp-iat too long
	badRole := good
	badRole.Role = "admin"
	badWatch := good
	badWatch.Watch = []string{"12345678", "x"}
	for _, tc := range []struct{ name, query, why string }{
		{"missing", "", whyMissing},
		{"empty", "token=", whyMissing},
		{"forged: other secret", "token=" + sign(t, "other", "", good), whyInvalid},
		{"forged: alg none", "token=" + none, whyInvalid},
		{"forged: ES256 with a key the edge does not know", "token=" + sign(t, ecKey, "", good), whyInvalid},
		{"expired", "token=" + sign(t, secret, "", token.New("alice", now.Add(-time.Hour), 30*time.Minute)), whyExpired},
		{"issued in the future", "token=" + sign(t, secret, "", token.New("alice", now.Add(time.Minute), 10*time.Minute)), whyInvalid},
		{"no exp", "token=" + noExpTok, whyInvalid},
		{"over-long-lived: exp-now", "token=" + sign(t, secret, "", token.New("alice", now, 2*time.Hour)), whyLifetime},
		{"over-long-lived: exp-iat", "token=" + sign(t, secret, "", longIat), whyLifetime},
		{"other client", "token=" + sign(t, secret, "", token.New("bob", now, time.Minute)), whyClient},
		{"unknown role", "token=" + sign(t, secret, "", badRole), whyClaims},
		{"bad watch grant", "token=" + sign(t, secret, "", badWatch), whyClaims},
		{"garbage", "token=a.b.c", whyInvalid},
		{"too long", "token=" + strings.Repeat("a", maxTokenLen+1), whyInvalid},
	} {
		refused(t, ed.url, tc.name, tc.query, tc.why)
	}
	c, err := dialErr(ed.url, "alice", "token="+sign(t, secret, "", good), nil)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	c.Close()
	// A back end whose clock is 2 s ahead: within the leeway.
	c, err = dialErr(ed.url, "alice", "token="+sign(t, secret, "", token.New("alice", now.Add(2*time.Second), 10*time.Minute)), nil)
	if err != nil {
		t.Fatalf("token issued 2 s ahead: %v", err)
	}
	c.Close()
	// The Authorization header works too (keeps the token out of URLs).
	h := http.Header{"Authorization": {"Bearer " + sign(t, secret, "", good)}}
	c, _, err = websocket.DefaultDialer.Dial(ed.url+"/client/alice", h)
	if err != nil {
		t.Fatalf("valid token in Authorization: %v", err)
	}
	c.Close()
	if got := counterValue(t, ed.srv, "confapplet_edge_rejected_total", "auth"); got != 15 {
		t.Errorf("rejected{auth} = %v, want 15", got)
	}
}

func writePEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// With a public key file the edge verifies ES256 (or RS256) tokens and never
// holds a signing key; an HS256 token "signed" with the public key's bytes
// (algorithm confusion) is refused.
func TestJWTPublicKey(t *testing.T) {
	e := newEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := writePEM(t, &key.PublicKey)
	ed := e.edge(func(c *Config) { c.AuthPublicKey = path })
	good := token.New("alice", time.Now(), time.Minute)
	pemBytes, _ := os.ReadFile(path)
	refused(t, ed.url, "other key", "token="+sign(t, other, "", good), whyInvalid)
	refused(t, ed.url, "HS256 with the public key as secret", "token="+sign(t, pemBytes, "", good), whyInvalid)
	c, err := dialErr(ed.url, "alice", "token="+sign(t, key, "", good), nil)
	if err != nil {
		t.Fatalf("valid ES256 token: %v", err)
	}
	c.Close()

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed2 := e.edge(func(c *Config) { c.AuthPublicKey = writePEM(t, &rsaKey.PublicKey) })
	c, err = dialErr(ed2.url, "alice", "token="+sign(t, rsaKey, "", good), nil)
	if err != nil {
		t.Fatalf("valid RS256 token: %v", err)
	}
	c.Close()
}

// With a JWKS URL the edge finds the key by kid; a rotated-in key is picked
// up on its first use, a kid the set lacks is refused.
func TestJWTJWKS(t *testing.T) {
	e := newEnv(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding
	var fetches atomic.Int32
	var withEC atomic.Bool
	js := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		keys := []map[string]string{{"kty": "RSA", "kid": "r1", "use": "sig",
			"n": b64.EncodeToString(rsaKey.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(rsaKey.E)).Bytes())}}
		if withEC.Load() {
			x, y := ecKey.X.FillBytes(make([]byte, 32)), ecKey.Y.FillBytes(make([]byte, 32))
			keys = append(keys, map[string]string{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(js.Close)
	ed := e.edge(func(c *Config) { c.AuthJWKSURL = js.URL })
	good := token.New("alice", time.Now(), time.Minute)
	c, err := dialErr(ed.url, "alice", "token="+sign(t, rsaKey, "r1", good), nil)
	if err != nil {
		t.Fatalf("valid RS256 token from the JWKS: %v", err)
	}
	c.Close()
	refused(t, ed.url, "unknown kid", "token="+sign(t, ecKey, "e1", good), whyInvalid)
	refused(t, ed.url, "RS key under an EC algorithm", "token="+sign(t, ecKey, "r1", good), whyInvalid)
	// The set gains e1; the edge refetches once the minimum interval passed.
	withEC.Store(true)
	ed.srv.auth.jwks.mu.Lock()
	ed.srv.auth.jwks.fetched = time.Now().Add(-jwksMinRefresh)
	ed.srv.auth.jwks.mu.Unlock()
	c, err = dialErr(ed.url, "alice", "token="+sign(t, ecKey, "e1", good), nil)
	if err != nil {
		t.Fatalf("rotated-in ES256 key: %v", err)
	}
	c.Close()
	if n := fetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (first use, rotation)", n)
	}
}

// A connection whose token expires is closed with 4004; one that renewed
// its token in-band (RefreshToken) stays open past the first expiry. A
// refused renewal (another client's token) changes nothing.
func TestJWTRefresh(t *testing.T) {
	const secret = "s3cret"
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.AuthSecret = secret })
	short := func(id string) string { return sign(t, secret, "", token.New(id, time.Now(), 2*time.Second)) }

	stale := dial(t, ed.url, "bob", "token="+short("bob"))
	fresh := dial(t, ed.url, "alice", "token="+short("alice"))
	fresh.send(`{"jsonrpc":"2.0","id":1,"method":"RefreshToken","params":["` + short("bob") + `"]}`)
	if r := fresh.response("1", true); r.Error == nil || r.Error.Code != 1012 || !strings.Contains(string(r.Error.Data), whyClient) {
		t.Fatalf("refresh with bob's token: %+v", r)
	}
	renewed := token.New("alice", time.Now(), time.Hour)
	fresh.send(`{"jsonrpc":"2.0","id":2,"method":"RefreshToken","params":{"token":"` + sign(t, secret, "", renewed) + `"}}`)
	r := fresh.response("2", true)
	var res struct{ Exp int64 }
	if r.Error != nil || json.Unmarshal(r.Result, &res) != nil || res.Exp != renewed.ExpiresAt.Unix() {
		t.Fatalf("refresh: %+v", r)
	}
	if code := stale.closeCode(5 * time.Second); code != contract.CloseTokenExpired {
		t.Fatalf("unrenewed connection closed with %d, want %d", code, contract.CloseTokenExpired)
	}
	time.Sleep(time.Second) // past alice's first expiry too
	fresh.send(`{"jsonrpc":"2.0","id":3,"method":"QueryConfState","params":["1234"]}`)
	if r := fresh.response("3", true); r.Error != nil {
		t.Fatalf("renewed connection after the first expiry: %+v", r)
	}
	if got := counterValue(t, ed.srv, "confapplet_edge_disconnects_total", "token_expired"); got != 1 {
		t.Errorf("disconnects{token_expired} = %v, want 1", got)
	}
}

// The token's operator role and watch grants reach the conference service
// in headers only the edge sets; a plain token sends neither.
func TestJWTClaimsToHeaders(t *testing.T) {
	const secret = "s3cret"
	e := newEnv(t)
	type seen struct{ role, watch string }
	got := make(chan seen, 4)
	e.rsp.handle(contract.MethodGetConf, func(m *nats.Msg) (any, *contract.Error) {
		got <- seen{m.Header.Get(contract.HeaderRole), m.Header.Get(contract.HeaderWatch)}
		return map[string]string{}, nil
	})
	ed := e.edge(func(c *Config) { c.AuthSecret = secret })
	op := token.New("ops", time.Now(), time.Minute)
	op.Role, op.Watch = token.RoleOperator, []string{"1234", "56789"}
	for _, tc := range []struct {
		id, tok string
		want    seen
	}{
		{"ops", sign(t, secret, "", op), seen{"operator", "1234,56789"}},
		{"alice", sign(t, secret, "", token.New("alice", time.Now(), time.Minute)), seen{}},
	} {
		cl := dial(t, ed.url, tc.id, "token="+tc.tok)
		cl.send(`{"jsonrpc":"2.0","id":1,"method":"GetConf","params":["1234"]}`)
		cl.response("1", true)
		if s := <-got; s != tc.want {
			t.Errorf("%s: headers %+v, want %+v", tc.id, s, tc.want)
		}
	}
}

// Without any key configured tokens are not checked, and RefreshToken says
// so with exp 0.
func TestJWTOff(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	cl := dial(t, ed.url, "alice", "token=whatever")
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"RefreshToken","params":["a.b.c"]}`)
	if r := cl.response("1", true); r.Error != nil || string(r.Result) != `{"exp":0}` {
		t.Fatalf("RefreshToken without keys: %+v", r)
	}
}

// Secure by default: with no token key the edge refuses to start unless
// told it may run open, and then warns on every start.
func TestAuthRequiredByDefault(t *testing.T) {
	var out strings.Builder
	err := Run(t.Context(), []string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "no connection token key") {
		t.Fatalf("Run without a key: %v, want a refusal naming the settings", err)
	}
	e := newEnv(t)
	// Each server gets a log of its own, safe for concurrent use: both
	// stay subscribed to e.nc, and their NATS-lost timers may log when the
	// test's NATS stops, after the test body.
	logs := &testkit.Buffer{}
	cfg := testConfig()
	cfg.NATSURL = e.ns.ClientURL()
	srv, err := New(cfg, e.nc, zerolog.New(logs).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	got := logs.String() // New logs before it returns; nothing else logs at warn here
	srv.close()
	if !strings.Contains(got, `"level":"warn"`) || !strings.Contains(got, "INSECURE") {
		t.Fatalf("insecure start logged %q, want a warning", got)
	}
	// A guessable HS256 secret is warned about too.
	logs = &testkit.Buffer{}
	cfg.InsecureNoAuth, cfg.AuthSecret = false, "short"
	if srv, err = New(cfg, e.nc, zerolog.New(logs).Level(zerolog.WarnLevel)); err != nil {
		t.Fatal(err)
	}
	got = logs.String()
	srv.close()
	if !strings.Contains(got, "shorter than 32 bytes") {
		t.Fatalf("a 5-byte secret logged %q, want a warning", got)
	}
}
