package conference

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"confapplet/pkg/ytxsim"
)

// recorder keeps the body of every platform request (then lets the
// simulator answer it).
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, r.URL.Path+"\n"+string(b))
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rc.next.ServeHTTP(w, r)
}

// TestCommandCallbackURLsGolden: the URLs CreateConf and InviteJoinConf ask
// the platform to call, relative (the default: the bare kind, no leading
// "/") and absolute (YTXCallbackBaseURL), byte for byte against
// testdata/golden/*.txt. Regenerate with UPDATE_GOLDEN=1 after a deliberate
// change.
func TestCommandCallbackURLsGolden(t *testing.T) {
	for _, c := range []struct{ name, base string }{
		{"relative", ""},
		{"absolute", "https://cb.example.com/yt/s3cret/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim := ytxsim.New(ytxsim.Config{Clock: ytxsim.NewFakeClockNow()})
			defer sim.Close()
			rec := &recorder{next: sim}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.YTXBaseURL = srv.URL + "/" + ytxsim.Version
			cfg.YTXCallbackBaseURL = c.base
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			p, err := NewYTX(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			confID, err := p.CreateConf(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.InviteJoinConf(ctx, confID, "13912345678"); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, r := range rec.reqs {
				// Keep the command element: the path holds the
				// account and the body the per-run confid.
				body := r[strings.Index(r, "<Request>"):]
				got.WriteString(strings.ReplaceAll(body, confID, "{confid}") + "\n")
			}
			path := filepath.Join("testdata", "golden", "callback_urls_"+c.name+".txt")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Fatalf("requests differ from %s:\n got: %s\nwant: %s", path, got.String(), want)
			}
		})
	}
}

// TestCallbackBaseURLValidated: only an absolute http(s) URL is taken.
func TestCallbackBaseURLValidated(t *testing.T) {
	for _, bad := range []string{"/yt/x", "cb.example.com/yt/x", "ftp://h/yt/x", "https://h/yt/x?a=1"} {
		cfg := DefaultConfig()
		cfg.YTXCallbackBaseURL = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ytx-callback-base-url") {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}
