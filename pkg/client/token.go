package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// tokenExp is the exp claim of a JWT, read without verifying it (the edge
// verifies; the client only needs to know when to renew); zero when tok is
// not a JWT or has no exp.
func tokenExp(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.Exp), 0)
}

// renewRetry is the wait before another renewal attempt after a failed one.
const renewRetry = 5 * time.Second

// renew keeps cn's token fresh: when three quarters of the current token's
// remaining lifetime have passed it asks the token source for a new one and
// sends it with RefreshToken; a failure is retried until the token expires
// (the edge then closes with 4004 and the reconnect asks the source again).
// A source that returns the same token (WithToken) ends it. It ends with cn
// or the client.
func (c *Client) renew(cn *conn, tok string) {
	defer c.wg.Done()
	exp := tokenExp(tok)
	wait := time.Until(exp) * 3 / 4
	for {
		t := time.NewTimer(max(wait, 0))
		select {
		case <-cn.dead:
			t.Stop()
			return
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, renewRetry)
		next, err := c.o.token(ctx)
		if err == nil && next == tok {
			cancel()
			return // a fixed token (WithToken): nothing to renew with
		}
		if err == nil {
			_, err = c.RefreshToken(ctx, next)
		}
		cancel()
		if err == nil && tokenExp(next).After(exp) {
			tok, exp = next, tokenExp(next)
			wait = time.Until(exp) * 3 / 4
			continue
		}
		if time.Until(exp) <= 0 {
			return
		}
		wait = min(renewRetry, time.Until(exp))
	}
}
