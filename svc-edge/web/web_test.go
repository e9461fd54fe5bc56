package web

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"confapplet/pkg/contract"
)

func TestFSHasThePage(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "i18n.js", "style.css", "favicon.svg", "client-js/index.js", "client-js/client.js", "client-js/contract.js", "client-js/package.json"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	if _, err := fs.ReadFile(FS, "web.go"); err == nil {
		t.Fatal("the Go source must not be served")
	}
	// GET /client/{client_id} is the WebSocket endpoint: a file there
	// would never be served.
	if _, err := fs.Stat(FS, "client"); err == nil {
		t.Fatal("a page file under /client/, the WebSocket endpoint's path")
	}
}

// TestNothingFromTheInternet keeps the page self-contained: no absolute
// http(s) URLs in src/href attributes or imports.
func TestNothingFromTheInternet(t *testing.T) {
	re := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|import[^;]*["'](https?:)?//|url\(\s*["']?(https?:)?//`)
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS, path)
		if err != nil {
			return err
		}
		if m := re.Find(b); m != nil {
			t.Errorf("%s loads from the network: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryErrorCodeHasATextInBothLanguages reads i18n.js and checks that
// each JSON-RPC code of contract.Table has a message in the zh and en tables.
func TestEveryErrorCodeHasATextInBothLanguages(t *testing.T) {
	b, err := fs.ReadFile(FS, "i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	zhAt := strings.Index(src, "zh: {")
	enAt := strings.Index(src, "en: {")
	if zhAt < 0 || enAt < 0 || enAt < zhAt {
		t.Fatal("i18n.js: zh and en tables not found")
	}
	langs := map[string]string{"zh": src[zhAt:enAt], "en": src[enAt:]}
	for lang, part := range langs {
		i := strings.Index(part, "errors: {")
		if i < 0 {
			t.Fatalf("%s: no errors table", lang)
		}
		errs := part[i:]
		for _, s := range contract.Table {
			key := strconv.Itoa(s.RPC)
			if s.RPC < 0 {
				key = "[" + key + "]"
			}
			if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:\s*"[^"]+"`).MatchString(errs) {
				t.Errorf("%s: no text for error %d (%s)", lang, s.RPC, s.Code)
			}
		}
	}
}
