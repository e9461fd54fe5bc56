package testkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// waitEvery is how often WaitHTTP and WaitTCP try again.
const waitEvery = 50 * time.Millisecond

// WaitHTTP polls url until it answers 200. It gives up when within passes,
// ctx ends or p (when not nil) exits, and says why, with p's log tail.
func WaitHTTP(ctx context.Context, url string, within time.Duration, p *Proc) error {
	hc := &http.Client{Timeout: time.Second}
	return waitUntil(ctx, url, within, p, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// WaitTCP polls addr until it accepts connections, with WaitHTTP's limits.
func WaitTCP(ctx context.Context, addr string, within time.Duration, p *Proc) error {
	return waitUntil(ctx, addr, within, p, func(ctx context.Context) error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func waitUntil(ctx context.Context, what string, within time.Duration, p *Proc, try func(context.Context) error) error {
	deadline := time.Now().Add(within)
	var last error
	for {
		if p != nil && p.Exited() != nil && !p.Running() {
			return fmt.Errorf("%s exited (%v) before %s was ready; log tail:\n%s", p.Name, p.Err(), what, p.Tail(3000))
		}
		if last = try(ctx); last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(waitEvery)
	}
	if p != nil {
		return fmt.Errorf("%s not ready at %s after %s: %v; log tail:\n%s", p.Name, what, within, last, p.Tail(3000))
	}
	return fmt.Errorf("%s not ready after %s: %v", what, within, last)
}
