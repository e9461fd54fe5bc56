package edge

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// With -auth-secret, the upgrade needs a valid, unexpired token for the
// client id: anything else is HTTP 401 before the upgrade.
func TestAuthToken(t *testing.T) {
	const secret = "s3cret"
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.AuthSecret = secret })
	future := time.Now().Add(time.Hour)
	good := SignToken(secret, "alice", future)
	exp, sig, _ := strings.Cut(good, ".")
	for _, tc := range []struct {
		name, query string
	}{
		{"missing", ""},
		{"empty", "token="},
		{"expired", "token=" + SignToken(secret, "alice", time.Now().Add(-time.Second))},
		{"other secret", "token=" + SignToken("other", "alice", future)},
		{"other client id", "token=" + SignToken(secret, "bob", future)},
		{"exp changed", "token=" + strconv.FormatInt(future.Unix()+3600, 10) + "." + sig},
		{"signature changed", "token=" + exp + "." + strings.Repeat("0", len(sig))},
		{"signature cut", "token=" + good[:len(good)-2]},
		{"no dot", "token=" + exp + sig},
		{"signed exp", "token=+" + good},
		{"garbage", "token=%00%01"},
	} {
		_, err := dialErr(ed.url, "alice", tc.query, nil)
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusUnauthorized {
			t.Errorf("%s: %v, want HTTP 401", tc.name, err)
		}
	}
	c, err := dialErr(ed.url, "alice", "token="+good, nil)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	c.Close()
	// Upper-case hex is the same signature.
	c, err = dialErr(ed.url, "alice", "token="+exp+"."+strings.ToUpper(sig), nil)
	if err != nil {
		t.Fatalf("valid token, upper-case hex: %v", err)
	}
	c.Close()
	if got := counterValue(t, ed.srv, "confapplet_edge_rejected_total", "auth"); got != 11 {
		t.Errorf("rejected{auth} = %v, want 11", got)
	}
}

// Without a secret no token is needed, and a token given is ignored.
func TestAuthOff(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	for _, q := range []string{"", "token=whatever"} {
		c, err := dialErr(ed.url, "alice", q, nil)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		c.Close()
	}
}

func TestSignToken(t *testing.T) {
	// The MAC computed independently:
	// printf 'client.1700000000' | openssl dgst -sha256 -hmac key
	tok := SignToken("key", "client", time.Unix(1700000000, 0))
	if want := "1700000000.652860c7b4ad543d0f9ddc619b958a974b340783fa3c9117181d03879ccd49e7"; tok != want {
		t.Fatalf("token %q, want %q", tok, want)
	}
	if why := checkToken("key", "client", tok, time.Unix(1699999999, 0)); why != "" {
		t.Errorf("valid token refused: %s", why)
	}
	if why := checkToken("key", "client", tok, time.Unix(1700000000, 0)); why != "token expired" {
		t.Errorf("at exp: %q, want token expired", why)
	}
	cfg, err := ParseConfig(nil, func(k string) string {
		if k == "EDGE_AUTH_SECRET" {
			return "from-env"
		}
		return ""
	}, &strings.Builder{})
	if err != nil || cfg.AuthSecret != "from-env" {
		t.Fatalf("EDGE_AUTH_SECRET: %q, %v", cfg.AuthSecret, err)
	}
	cfg, err = ParseConfig([]string{"-auth-secret", "flag"}, func(string) string { return "" }, &strings.Builder{})
	if err != nil || cfg.AuthSecret != "flag" {
		t.Fatalf("-auth-secret: %q, %v", cfg.AuthSecret, err)
	}
}
