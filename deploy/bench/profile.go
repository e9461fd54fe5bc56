package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profiled are the services whose Go profiles -profile takes, each on a
// pprof listener of its own.
var profiled = []struct{ name, env, addr string }{
	{"svc-edge", "EDGE_PPROF", "127.0.0.1:16061"},
	{"svc-conference", "CONF_PPROF", "127.0.0.1:16062"},
	{"svc-callback", "CALLBACK_PPROF", "127.0.0.1:16063"},
}

// takeProfiles starts CPU profiles of every profiled service, each over
// d from now, into dir as <service>-<tag>.pprof; the returned wait returns
// once they are written, and reports a failure on out (-profile: pick
// optimizations by profile). With no dir it takes none.
func takeProfiles(ctx context.Context, out io.Writer, dir, tag string, d time.Duration) (wait func()) {
	if dir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(profiled))
	for i, svc := range profiled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", svc.addr, max(1, int(d.Seconds()))),
				filepath.Join(dir, svc.name+"-"+tag+".pprof"))
		}()
	}
	return func() {
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(out, "  profiles: %v\n", err)
		}
	}
}

func fetchProfile(ctx context.Context, url, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: HTTP %d", url, resp.StatusCode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
