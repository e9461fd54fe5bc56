package conference

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// guard is the toll-fraud guard (BRIEF decision 9): every invitation dials a
// paid call, so numbers must match the allow-list and invitations are rate
// limited per client and per instance. The members-per-conference and
// conferences-per-client limits need the state and are checked in the
// handlers with the guard's numbers.
type guard struct {
	allow  []*regexp.Regexp
	maxNum int

	perRate  rate.Limit
	perBurst int
	global   *rate.Limiter // nil: no global limit

	mu      sync.Mutex
	clients map[string]*clientLimiter
	now     func() time.Time

	// shared, when set, holds the per-client buckets (see allowShared).
	shared *kvLimiter
}

// allowShared is allowInvite with the per-client bucket in JetStream KV,
// shared by every instance (a client whose requests the queue group spreads
// over N instances still gets its rate once, not N times). The global
// bucket stays per instance.
func (g *guard) allowShared(ctx context.Context, clientID string, n int) *contract.Error {
	if g.perRate > 0 {
		wait, ok, err := g.shared.take(ctx, clientID, n)
		if err != nil {
			// Fail closed: no paid call without the limit checked.
			return contract.Errorf(contract.CodeInternal, "rate limit state unavailable")
		}
		if !ok {
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of this client reached").
				WithData(map[string]any{"scope": "client", "retry_after_ms": wait.Milliseconds()})
		}
	}
	if g.global != nil {
		now := g.now()
		r := g.global.ReserveN(now, n)
		if !r.OK() || r.DelayFrom(now) > 0 {
			wait := int64(-1)
			if r.OK() {
				wait = r.DelayFrom(now).Milliseconds()
			}
			r.CancelAt(now)
			if g.perRate > 0 {
				// Give the client its tokens back: the refusal is not its doing.
				_ = g.shared.refund(ctx, clientID, n)
			}
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of the service reached").
				WithData(map[string]any{"scope": "global", "retry_after_ms": wait})
		}
	}
	return nil
}

// kvLimiter is a GCRA token bucket per key in a KV bucket: the value is the
// bucket's theoretical arrival time (Unix ns); a take of n tokens moves it
// n emission intervals on, and is refused when that would put it more
// than burst intervals ahead of now. Updates are revision-checked.
type kvLimiter struct {
	kv       jetstream.KeyValue
	interval time.Duration // 1 / rate
	burst    int
	now      func() time.Time
}

func (l *kvLimiter) take(ctx context.Context, key string, n int) (time.Duration, bool, error) {
	return l.move(ctx, key, n)
}

func (l *kvLimiter) refund(ctx context.Context, key string, n int) error {
	_, _, err := l.move(ctx, key, -n)
	return err
}

// move shifts key's arrival time by n intervals (n < 0 refunds).
func (l *kvLimiter) move(ctx context.Context, key string, n int) (time.Duration, bool, error) {
	for {
		now := l.now()
		tat, rev := now, uint64(0)
		e, err := l.kv.Get(ctx, key)
		switch {
		case err == nil:
			rev = e.Revision()
			if ns, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil && time.Unix(0, ns).After(now) {
				tat = time.Unix(0, ns)
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return 0, false, err
		}
		next := tat.Add(time.Duration(n) * l.interval)
		if n > 0 {
			if ahead := next.Sub(now) - time.Duration(l.burst)*l.interval; ahead > 0 {
				if n > l.burst {
					return -1, false, nil
				}
				return ahead, false, nil
			}
		} else if next.Before(now) {
			next = now
		}
		v := []byte(strconv.FormatInt(next.UnixNano(), 10))
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, v)
		} else {
			_, err = l.kv.Update(ctx, key, v, rev)
		}
		if err == nil {
			return 0, true, nil
		}
		if !conflict(err) {
			return 0, false, err
		}
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
	}
}

type clientLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newGuard(cfg Config) *guard {
	g := &guard{
		allow:   cfg.compiledAllowNumbers,
		maxNum:  cfg.MaxNumbersPerCall,
		clients: map[string]*clientLimiter{},
		now:     time.Now,
	}
	if cfg.InviteRatePerSec > 0 {
		g.perRate, g.perBurst = rate.Limit(cfg.InviteRatePerSec), cfg.InviteBurst
	}
	if cfg.GlobalRatePerSec > 0 {
		g.global = rate.NewLimiter(rate.Limit(cfg.GlobalRatePerSec), cfg.GlobalBurst)
	}
	return g
}

// numbers splits a '#'-joined number list (a trailing '#' is tolerated, as
// clients send it) and checks every number against the allow-list.
func (g *guard) numbers(list string) ([]string, *contract.Error) {
	parts := strings.Split(list, "#")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 || len(parts) == 1 && parts[0] == "" {
		return nil, contract.Errorf(contract.CodeInvalidParams, "number: empty")
	}
	if len(parts) > g.maxNum {
		return nil, contract.Errorf(contract.CodeLimit, "at most %d numbers per invitation", g.maxNum)
	}
	seen := map[string]bool{}
	for _, n := range parts {
		if !g.allowed(n) {
			return nil, contract.Errorf(contract.CodeNumberRefused, "number %q is not allowed", n).
				WithData(map[string]string{"number": n})
		}
		if seen[n] {
			return nil, contract.Errorf(contract.CodeInvalidParams, "number %q given twice", n)
		}
		seen[n] = true
	}
	return parts, nil
}

func (g *guard) allowed(n string) bool {
	for _, re := range g.allow {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

// allowInvite takes n invitation tokens for clientID from the per-client
// and the global bucket, or none at all.
func (g *guard) allowInvite(ctx context.Context, clientID string, n int) *contract.Error {
	if g.shared != nil {
		return g.allowShared(ctx, clientID, n)
	}
	now := g.now()
	var held *rate.Reservation
	if g.perRate > 0 {
		g.mu.Lock()
		c := g.clients[clientID]
		if c == nil {
			if len(g.clients) > 10000 {
				g.evictLocked(now)
			}
			c = &clientLimiter{lim: rate.NewLimiter(g.perRate, g.perBurst)}
			g.clients[clientID] = c
		}
		c.seen = now
		cl := c.lim
		g.mu.Unlock()
		held = cl.ReserveN(now, n)
		if !held.OK() || held.DelayFrom(now) > 0 {
			wait := int64(-1)
			if held.OK() {
				wait = held.DelayFrom(now).Milliseconds()
			}
			held.CancelAt(now)
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of this client reached").
				WithData(map[string]any{"scope": "client", "retry_after_ms": wait})
		}
	}
	if g.global != nil {
		r := g.global.ReserveN(now, n)
		if !r.OK() || r.DelayFrom(now) > 0 {
			wait := int64(-1)
			if r.OK() {
				wait = r.DelayFrom(now).Milliseconds()
			}
			r.CancelAt(now)
			if held != nil {
				// Give the client its tokens back: the refusal is not its doing.
				held.CancelAt(now)
			}
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of the service reached").
				WithData(map[string]any{"scope": "global", "retry_after_ms": wait})
		}
	}
	return nil
}

// evictLocked drops the limiters of clients idle long enough that their
// bucket is full again.
func (g *guard) evictLocked(now time.Time) {
	full := time.Duration(float64(g.perBurst)/float64(g.perRate)*float64(time.Second)) + time.Second
	for id, c := range g.clients {
		if now.Sub(c.seen) > full {
			delete(g.clients, id)
		}
	}
}
