package e2e

import (
	"context"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/token"
)

// A client whose tokens live 2 s stays connected well past the first one's
// expiry: pkg/client renews in-band (RefreshToken) with fresh tokens from
// its source, and the edge moves the connection's expiry each time.
func TestTokenRenewalKeepsTheConnection(t *testing.T) {
	st := newStack(t)
	source := client.WithTokenSource(func(context.Context) (string, error) {
		return token.Sign(tokenSecret, "renewer", token.New("renewer", time.Now(), 2*time.Second))
	})
	b := st.dial(0, "renewer", source)
	confID := b.createConf()
	time.Sleep(5 * time.Second) // two and a half first lifetimes
	if _, err := b.c.QueryConfState(b.ctx(), confID); err != nil {
		t.Fatalf("after 5 s: %v", err)
	}
	if s := b.c.Stats(); s.Disconnects != 0 || s.Connects != 1 {
		t.Fatalf("%d connects, %d disconnects: the connection did not survive its first token", s.Connects, s.Disconnects)
	}
}
