// Package svc is the one way every binary of the workspace configures, runs
// and exposes itself: settings from flags with environment twins (flags.go;
// their documentation table, doc.go), the NATS connection (nats.go), the ops
// handler and the HTTP servers' limits (ops.go), Go's profiles (pprof.go),
// the listeners and the staged shutdown (process.go), -healthcheck
// (healthcheck.go) and main (main.go).
package svc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// ErrHelp is what a run returns after printing its usage for -h or -help;
// Main exits 0 on it.
var ErrHelp = flag.ErrHelp

// Flags declares a binary's settings. Each setting is a flag with an
// environment twin, by default PREFIX_FLAG_NAME ("-max-conns" of svc-edge is
// EDGE_MAX_CONNS); Env names another (an established name such as NATS_URL),
// NoEnv none. The flag's usage is the setting's only description: -h prints
// it and the CONFIG.md tables are rendered from it (Table).
type Flags struct {
	binary, prefix string
	fs             *flag.FlagSet
	settings       []*setting
}

type setting struct {
	name, env, usage, docDefault string
}

// Option changes one setting's declaration.
type Option func(*setting)

// Env gives the setting the environment variable name instead of the
// PREFIX_FLAG_NAME rule: for names in use before the rule, and the
// workspace-wide ones.
func Env(name string) Option { return func(s *setting) { s.env = name } }

// NoEnv declares a setting with no environment twin.
func NoEnv() Option { return func(s *setting) { s.env = "" } }

// DocDefault is what the documentation table says of the default, when the
// flag's default value alone would not tell (a computed default, a list).
func DocDefault(text string) Option { return func(s *setting) { s.docDefault = text } }

// NewFlags starts the settings of binary, whose environment twins start with
// prefix ("EDGE_").
func NewFlags(binary, prefix string) *Flags {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse words the errors; usage is printed for -h only
	return &Flags{binary: binary, prefix: prefix, fs: fs}
}

func (f *Flags) add(name, usage string, opts []Option) {
	s := &setting{name: name, usage: usage, env: f.prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	for _, o := range opts {
		o(s)
	}
	f.settings = append(f.settings, s)
}

// String declares a string setting stored in p; p's value is the default.
func (f *Flags) String(p *string, name, usage string, opts ...Option) {
	f.fs.StringVar(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Bool declares a boolean setting.
func (f *Flags) Bool(p *bool, name, usage string, opts ...Option) {
	f.fs.BoolVar(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Int declares an int setting.
func (f *Flags) Int(p *int, name, usage string, opts ...Option) {
	f.fs.IntVar(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Int64 declares an int64 setting.
func (f *Flags) Int64(p *int64, name, usage string, opts ...Option) {
	f.fs.Int64Var(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Float64 declares a float64 setting.
func (f *Flags) Float64(p *float64, name, usage string, opts ...Option) {
	f.fs.Float64Var(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Duration declares a duration setting (Go syntax: 500ms, 2s, 1m).
func (f *Flags) Duration(p *time.Duration, name, usage string, opts ...Option) {
	f.fs.DurationVar(p, name, *p, usage)
	f.add(name, usage, opts)
}

// Var declares a setting of any flag.Value; its String() is the default.
func (f *Flags) Var(v flag.Value, name, usage string, opts ...Option) {
	f.fs.Var(v, name, usage)
	f.add(name, usage, opts)
}

// The settings every service has, described here once.

// NATS declares -nats / NATS_URL.
func (f *Flags) NATS(p *string) {
	f.String(p, "nats", "NATS server URL(s), comma-separated", Env("NATS_URL"))
}

// LogLevel declares -log-level / LOG_LEVEL.
func (f *Flags) LogLevel(p *string) {
	f.String(p, "log-level", "`debug`, `info`, `warn` or `error` (zerolog JSON on stdout)", Env("LOG_LEVEL"))
}

// LogFullNumbers declares -log-full-numbers / LOG_FULL_NUMBERS: phone
// numbers in the logs in full rather than masked (logging.FullNumbers).
func (f *Flags) LogFullNumbers(p *bool) {
	f.Bool(p, "log-full-numbers", "write phone numbers to the logs in full, not masked as `138****8005`: personal data, for debugging only (a warning is logged at start)", Env("LOG_FULL_NUMBERS"))
}

// Healthcheck declares -healthcheck: the binary only asks /healthz of the
// instance listening on the address named by addrFlag and exits 0 or 1 (what
// a Docker HEALTHCHECK runs). It is a mode, not a setting: no environment
// twin unless opts name one.
func (f *Flags) Healthcheck(p *bool, addrFlag string, opts ...Option) {
	f.Bool(p, "healthcheck", "only GET `/healthz` of the instance at `-"+addrFlag+"` and exit 0 (200) or 1, for Docker `HEALTHCHECK`",
		append([]Option{NoEnv()}, opts...)...)
}

// Parse reads args, then, for every flag args did not set, its environment
// twin from getenv. -h and -help print the usage to out and return ErrHelp.
// Positional arguments are refused: every setting is a flag, and a word
// that is not one would silently end the flags (`svc-edge extra
// -healthcheck` would start a full edge).
func (f *Flags) Parse(args []string, getenv func(string) string, out io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.Usage(out)
			return ErrHelp
		}
		return fmt.Errorf("%w (%s -h lists the settings)", err, f.binary)
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: settings are flags (-name value); %s -h lists them", f.fs.Arg(0), f.binary)
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var errs []error
	for _, s := range f.settings {
		if set[s.name] || s.env == "" {
			continue
		}
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := f.fs.Lookup(s.name).Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
		}
	}
	return errors.Join(errs...)
}

// Usage prints every setting: the flag, its type, its description, its
// environment twin in parentheses, and its default.
func (f *Flags) Usage(out io.Writer) {
	fmt.Fprintf(out, "Usage: %s [flags]\n\nEvery flag has the environment twin named in parentheses; a flag given wins.\n\n", f.binary)
	for _, s := range f.settings {
		fl := f.fs.Lookup(s.name)
		fmt.Fprintf(out, "  -%s", s.name)
		if t := typeName(fl); t != "" {
			fmt.Fprintf(out, " %s", t)
		}
		fmt.Fprintf(out, "\n    \t%s", s.usage)
		if s.env != "" {
			fmt.Fprintf(out, " (%s)", s.env)
		}
		if d := s.docDefault; d != "" {
			fmt.Fprintf(out, " (default %s)", d)
		} else if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			if typeName(fl) == "string" {
				fmt.Fprintf(out, " (default %q)", fl.DefValue) // as flag.PrintDefaults words it
			} else {
				fmt.Fprintf(out, " (default %s)", fl.DefValue)
			}
		}
		fmt.Fprintln(out)
	}
}

// typeName is the value's kind as flag.PrintDefaults words it.
func typeName(fl *flag.Flag) string {
	switch fl.Value.(type) {
	case interface{ IsBoolFlag() bool }:
		return ""
	}
	switch t := reflect.TypeOf(fl.Value).String(); t {
	case "*flag.stringValue":
		return "string"
	case "*flag.intValue", "*flag.int64Value":
		return "int"
	case "*flag.float64Value":
		return "float"
	case "*flag.durationValue":
		return "duration"
	}
	return "value"
}
