package svc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testSettings struct {
	addr, nats, secret string
	n                  int
	d                  time.Duration
	on, hc             bool
}

func testFlags(s *testSettings) *Flags {
	f := NewFlags("svc-test", "TEST_")
	f.String(&s.addr, "addr", "listen address")
	f.NATS(&s.nats)
	f.String(&s.secret, "auth-secret", "a secret", Env("LEGACY_SECRET"), DocDefault("*(none)*"))
	f.Int(&s.n, "max-conns", "connections")
	f.Duration(&s.d, "idle", "idle time")
	f.Bool(&s.on, "local", "local mode")
	f.Healthcheck(&s.hc, "addr")
	return f
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagWinsOverEnv(t *testing.T) {
	s := testSettings{addr: ":1", n: 5, d: time.Second}
	err := testFlags(&s).Parse([]string{"-max-conns", "7"}, env(map[string]string{
		"TEST_ADDR": ":2", "TEST_MAX_CONNS": "9", "NATS_URL": "nats://n", "LEGACY_SECRET": "s",
		"TEST_IDLE": "2m", "TEST_LOCAL": "true", "TEST_HEALTHCHECK": "true", "TEST_AUTH_SECRET": "ignored",
	}), os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	want := testSettings{addr: ":2", nats: "nats://n", secret: "s", n: 7, d: 2 * time.Minute, on: true}
	if s != want {
		t.Fatalf("got %+v, want %+v (flag wins, rule names, explicit names, no twin for -healthcheck)", s, want)
	}
}

func TestParseRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"extra", "-healthcheck"}, nil, `unexpected argument "extra"`},
		{[]string{"-addr", ":1", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"-nope"}, nil, "flag provided but not defined: -nope"},
		{[]string{"-max-conns", "many"}, nil, `invalid value "many" for flag -max-conns`},
		{nil, map[string]string{"TEST_IDLE": "forever", "TEST_MAX_CONNS": "x"}, `TEST_IDLE="forever"`},
	} {
		var s testSettings
		err := testFlags(&s).Parse(c.args, env(c.env), os.Stdout)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want an error with %q", c.args, c.env, err, c.want)
		}
	}
	// Every bad environment value is reported, not only the first.
	var s testSettings
	err := testFlags(&s).Parse(nil, env(map[string]string{"TEST_IDLE": "forever", "TEST_MAX_CONNS": "x"}), os.Stdout)
	if err == nil || !strings.Contains(err.Error(), "TEST_MAX_CONNS") {
		t.Errorf("two bad variables: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out strings.Builder
		s := testSettings{addr: ":8080"}
		err := testFlags(&s).Parse([]string{arg}, env(nil), &out)
		if !errors.Is(err, ErrHelp) {
			t.Fatalf("%s: %v, want ErrHelp", arg, err)
		}
		for _, want := range []string{"Usage: svc-test", "-addr string", "listen address (TEST_ADDR) (default \":8080\")",
			"(NATS_URL)", "a secret (LEGACY_SECRET) (default *(none)*)", "-max-conns int", "-idle duration", "\n  -local\n", "-healthcheck\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, out.String())
			}
		}
	}
}

func TestTableAndCheckDoc(t *testing.T) {
	s := testSettings{addr: ":8080", d: 24 * time.Hour}
	f := testFlags(&s)
	table := f.Table()
	for _, want := range []string{
		"| `-addr` | `TEST_ADDR` | `:8080` | listen address |",
		"| `-auth-secret` | `LEGACY_SECRET` | *(none)* | a secret |",
		"| `-nats` | `NATS_URL` | *(empty)* |",
		"| `-idle` | `TEST_IDLE` | `24h` |",
		"| `-healthcheck` | – | `false` |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	path := filepath.Join(t.TempDir(), "CONFIG.md")
	doc := "# x\n\n" + tableBegin + table + tableEnd + "\nmore\n"
	os.WriteFile(path, []byte(doc), 0o644)
	if err := CheckDoc(path, table); err != nil {
		t.Fatalf("same table: %v", err)
	}
	s.addr = ":9"
	other := testFlags(&s).Table()
	err := CheckDoc(path, other)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("changed default: %v, want the line named", err)
	}
	t.Setenv("UPDATE_DOCS", "1")
	if err := CheckDoc(path, other); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "# x\n\n"+tableBegin+other+tableEnd+"\nmore\n" {
		t.Fatalf("rewritten:\n%s", b)
	}
	os.WriteFile(path, []byte("no markers"), 0o644)
	if err := CheckDoc(path, table); err == nil {
		t.Fatal("a file without markers passed")
	}
}
