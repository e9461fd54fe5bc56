package conference

import (
	"context"
	"testing"
	"time"

	"confapplet/pkg/contract"
)

func testGuard(t *testing.T, mod func(*Config)) *guard {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return newGuard(cfg)
}

func TestAllowList(t *testing.T) {
	g := testGuard(t, nil)
	ok, refused, invalid, limit := contract.Code(""), contract.CodeNumberRefused, contract.CodeInvalidParams, contract.CodeLimit
	for _, tc := range []struct {
		number string
		want   contract.Code
	}{
		// Mobile.
		{"13812345678", ok},
		{"19912345678", ok},
		{"17012345678", ok},
		{"15000000000", ok},
		{"12812345678", refused},  // 12x is no mobile range
		{"1381234567", refused},   // 10 digits
		{"138123456789", refused}, // 12 digits
		{"+8613812345678", refused},
		{"8613812345678", refused},
		// Landlines with area code.
		{"01087654321", ok},      // Beijing, 8-digit local
		{"02188886666", ok},      // Shanghai
		{"075523456789", ok},     // Shenzhen 0755 + 8 digits
		{"05718765432", ok},      // Hangzhou 0571 + 7 digits
		{"0108765432", refused},  // Beijing needs 8 digits
		{"01187654321", refused}, // 011 is no area code
		{"02112345678", refused}, // local numbers never start with 1
		{"87654321", refused},    // no area code
		{"0012025550100", refused},
		// Service and premium numbers.
		{"4008123123", refused},
		{"8008101234", refused},
		{"110", refused},
		{"10086", refused},
		{"", invalid},
		{"1381234567a", refused},
		// '#'-joined lists: every number is checked.
		{"13812345678#13912345678", ok},
		{"13812345678#01087654321#", ok}, // trailing '#' as some clients send
		{"13812345678#4008123123", refused},
		{"4008123123#13812345678", refused},
		{"13812345678##13912345678", refused}, // an empty number in the middle
		{"#", invalid},
		{"13812345678#13812345678", invalid},
		{"13800000001#13800000002#13800000003#13800000004#13800000005#13800000006#13800000007#13800000008#13800000009#13800000010#13800000011", limit},
	} {
		nums, e := g.numbers(tc.number)
		got := contract.Code("")
		if e != nil {
			got = e.Code
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q (numbers %v)", tc.number, got, tc.want, nums)
		}
	}
}

func TestAllowListConfigured(t *testing.T) {
	g := testGuard(t, func(c *Config) { c.AllowNumbers = []string{`^1380000[0-9]{4}$`} })
	if _, e := g.numbers("13800001234"); e != nil {
		t.Fatal(e)
	}
	if _, e := g.numbers("13912345678"); e == nil || e.Code != contract.CodeNumberRefused {
		t.Fatalf("got %v", e)
	}
	cfg := DefaultConfig()
	cfg.AllowNumbers = []string{`1[3-9][0-9]{9}`}
	if err := cfg.Validate(); err == nil {
		t.Fatal("unanchored pattern accepted")
	}
	cfg.AllowNumbers = nil
	if err := cfg.Validate(); err == nil {
		t.Fatal("empty allow-list accepted")
	}
}

func TestRateLimits(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := testGuard(t, func(c *Config) {
		c.InviteRatePerSec, c.InviteBurst = 1, 3
		c.GlobalRatePerSec, c.GlobalBurst = 2, 5
	})
	g.now = func() time.Time { return now }
	code := func(e *contract.Error) string {
		if e == nil {
			return "ok"
		}
		return string(e.Code)
	}
	// Client a: burst 3, then refused.
	for i := range 3 {
		if e := g.allowInvite(context.Background(), "a", 1); e != nil {
			t.Fatalf("a #%d: %v", i, e)
		}
	}
	if e := g.allowInvite(context.Background(), "a", 1); code(e) != string(contract.CodeRateLimited) {
		t.Fatalf("a over burst: %v", code(e))
	}
	// Client b has its own bucket, but the global one (5) has 2 left.
	if e := g.allowInvite(context.Background(), "b", 2); e != nil {
		t.Fatalf("b: %v", e)
	}
	if e := g.allowInvite(context.Background(), "b", 1); code(e) != string(contract.CodeRateLimited) {
		t.Fatalf("global burst not enforced: %v", code(e))
	}
	// The global refusal gave b its token back: after 1 s the global
	// bucket has 2 more, b has 1+1 = 2.
	now = now.Add(time.Second)
	if e := g.allowInvite(context.Background(), "b", 2); e != nil {
		t.Fatalf("b after 1s: %v", e)
	}
	// A request larger than the burst can never pass.
	if e := g.allowInvite(context.Background(), "c", 4); code(e) != string(contract.CodeRateLimited) {
		t.Fatalf("c: %v", code(e))
	}
	// a refills at 1/s.
	now = now.Add(time.Second)
	if e := g.allowInvite(context.Background(), "a", 2); e != nil {
		t.Fatalf("a after 2s: %v", e)
	}
}
