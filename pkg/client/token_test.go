package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
)

// fakeToken is a JWT-shaped token expiring after ttl (the fake edge does
// not verify signatures).
func fakeToken(n int64, ttl time.Duration) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":"alice","n":%d,"exp":%d}`, n, time.Now().Add(ttl).Unix()))) + ".c2ln"
}

// With a token source the client presents a fresh token on every connect,
// renews it in-band before it expires, and asks again after a 4004.
func TestTokenSourceRenewsInBand(t *testing.T) {
	e := newFakeEdge(t, newStore())
	var minted atomic.Int64
	source := func(context.Context) (string, error) { return fakeToken(minted.Add(1), 2*time.Second), nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, e.url(), "alice", WithTokenSource(source), WithReconnect(), WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tokens := func() []string {
		e.mu.Lock()
		defer e.mu.Unlock()
		return append([]string(nil), e.tokens...)
	}
	testkit.Eventually(t, "an in-band renewal", 5*time.Second, func() bool { return len(tokens()) >= 2 })
	got := tokens()
	if !strings.HasPrefix(got[0], "connect:") || !strings.HasPrefix(got[1], "refresh:") || got[0][len("connect:"):] == got[1][len("refresh:"):] {
		t.Fatalf("tokens %q: want the connect's, then a fresh one in RefreshToken", got)
	}
	e.kick("alice", contract.CloseTokenExpired)
	testkit.Eventually(t, "a reconnect with a fresh token", 5*time.Second, func() bool {
		for _, tok := range tokens()[2:] {
			if strings.HasPrefix(tok, "connect:") {
				return true
			}
		}
		return false
	})
}

func TestTokenExp(t *testing.T) {
	if !tokenExp("not-a-jwt").IsZero() || !tokenExp("a.b.c").IsZero() || !tokenExp("").IsZero() {
		t.Error("a non-JWT has an exp")
	}
	tok := fakeToken(1, time.Hour)
	if d := time.Until(tokenExp(tok)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("exp in %v, want 1h", d)
	}
}
