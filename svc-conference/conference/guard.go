package conference

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"confapplet/pkg/contract"

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
func (g *guard) allowInvite(clientID string, n int) *contract.Error {
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
