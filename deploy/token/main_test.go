package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/token"

	"github.com/golang-jwt/jwt/v5"
)

// The minted token verifies with the secret and carries the claims asked for.
func TestMint(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"EDGE_AUTH_SECRET": "dev-secret"}
	if err := run(context.Background(), []string{"-client", "alice", "-ttl", "10m", "-operator", "-watch", "1234,56789"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	var c token.Claims
	if _, err := jwt.ParseWithClaims(strings.TrimSpace(out.String()), &c, func(*jwt.Token) (any, error) { return []byte("dev-secret"), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Role != token.RoleOperator || strings.Join(c.Watch, ",") != "1234,56789" {
		t.Fatalf("claims %+v", c)
	}
	if d := time.Until(c.ExpiresAt.Time); d < 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("exp in %v, want 10m", d)
	}
	for _, args := range [][]string{{"-client", "a b"}, {"-client", "alice", "-watch", "x"}, {"-client", "alice", "-ttl", "0s"}} {
		if err := run(context.Background(), args, func(k string) string { return env[k] }, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run(context.Background(), []string{"-client", "alice"}, func(string) string { return "" }, &out); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("without a key: %v", err)
	}
}
