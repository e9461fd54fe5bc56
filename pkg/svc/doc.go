package svc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Table renders the settings as the Markdown table of the binary's
// CONFIG.md: flag, environment, default, meaning (the flag's usage).
func (f *Flags) Table() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, s := range f.settings {
		env := "–"
		if s.env != "" {
			env = "`" + s.env + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s | %s |\n", s.name, env, f.docDefault(s), strings.ReplaceAll(s.usage, "|", `\|`))
	}
	return b.String()
}

func (f *Flags) docDefault(s *setting) string {
	if s.docDefault != "" {
		return s.docDefault
	}
	fl := f.fs.Lookup(s.name)
	v := fl.DefValue
	if d, err := time.ParseDuration(v); err == nil && typeName(fl) == "duration" {
		v = shortDuration(d)
	}
	if v == "" {
		return "*(empty)*"
	}
	return "`" + v + "`"
}

// shortDuration writes 24h0m0s as 24h and 1m0s as 1m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Markers around a generated table in a Markdown file.
const (
	tableBegin = "<!-- settings: generated from the flag declarations; UPDATE_DOCS=1 go test rewrites it -->\n"
	tableEnd   = "<!-- end of settings -->\n"
)

// CheckDoc compares the table between the settings markers of the Markdown
// file at path with table, and returns an error naming the first line that
// differs. With UPDATE_DOCS=1 in the environment it writes table there
// instead. A test of each binary calls it, so the documentation cannot
// drift from the flags.
func CheckDoc(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(b, []byte(tableBegin))
	j := bytes.Index(b, []byte(tableEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no settings table between %q and %q", path, strings.TrimSpace(tableBegin), strings.TrimSpace(tableEnd))
	}
	have := string(b[i+len(tableBegin) : j])
	if have == table {
		return nil
	}
	if os.Getenv("UPDATE_DOCS") == "1" {
		out := append(append(append([]byte{}, b[:i+len(tableBegin)]...), table...), b[j:]...)
		return os.WriteFile(path, out, 0o644)
	}
	hl, wl := strings.Split(have, "\n"), strings.Split(table, "\n")
	for k := range max(len(hl), len(wl)) {
		var h, w string
		if k < len(hl) {
			h = hl[k]
		}
		if k < len(wl) {
			w = wl[k]
		}
		if h != w {
			return fmt.Errorf("%s: settings table line %d\n have %s\n want %s\n(the flag declarations are the source: UPDATE_DOCS=1 go test rewrites the table)", path, k+1, h, w)
		}
	}
	return errors.New(path + ": settings table differs")
}
