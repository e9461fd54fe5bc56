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

// guard is the toll-fraud guard: every invitation dials a
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
	// globalKV, when set, is the global bucket, shared by every instance;
	// global (per instance) is then unused.
	globalKV *kvLimiter
}

// allowShared is allowInvite with the buckets in JetStream KV, shared by
// every instance: the client's (a client whose requests the queue group
// spreads over N instances still gets its rate once, not N times) and,
// when globalKV is set, the global one (the service-wide ceiling is the
// configured rate whatever the number of instances).
func (g *guard) allowShared(ctx context.Context, clientID string, n int) *contract.Error {
	if g.perRate > 0 {
		wait, ok, err := g.shared.take(ctx, clientID, n)
		if err != nil {
			// Fail closed: no paid call without the limit checked.
			return limitStateError(err)
		}
		if !ok {
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of this client reached").
				WithData(map[string]any{"scope": "client", "retry_after_ms": wait.Milliseconds()})
		}
	}
	// refund gives the client its tokens back: a global refusal is not its doing.
	refund := func() {
		if g.perRate > 0 {
			rctx, cancel := context.WithTimeout(context.Background(), 2*kvAttempt)
			defer cancel()
			_ = g.shared.refund(rctx, clientID, n)
		}
	}
	if g.globalKV != nil {
		wait, ok, err := g.globalKV.take(ctx, globalLimitKey, n)
		if err != nil {
			refund()
			return limitStateError(err)
		}
		if !ok {
			refund()
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of the service reached").
				WithData(map[string]any{"scope": "global", "retry_after_ms": wait.Milliseconds()})
		}
		return nil
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
			refund()
			return contract.Errorf(contract.CodeRateLimited, "invitation rate limit of the service reached").
				WithData(map[string]any{"scope": "global", "retry_after_ms": wait})
		}
	}
	return nil
}

// limitStateError is the refusal when a rate-limit bucket could not be
// read or written: retryable unavailable when JetStream did not answer,
// internal otherwise. Either way nothing is dialled.
func limitStateError(err error) *contract.Error {
	if unavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return contract.Errorf(contract.CodeUnavailable, "rate limit state temporarily unavailable; retry")
	}
	return contract.Errorf(contract.CodeInternal, "rate limit state unavailable")
}

// globalLimitKey is the global bucket's key in RateLimitBucket: '=' is a
// valid KV key character but not a client id one, so no client shares it.
const globalLimitKey = "=global"

// kvLimiter is a GCRA token bucket per key in a KV bucket: the value is the
// bucket's theoretical arrival time (Unix ns); a take of n tokens moves it
// n emission intervals on, and is refused when that would put it more
// than burst intervals ahead of now. Updates are revision-checked.
//
// With batch set the takes of one key within an instance are
// group-committed: while one read-modify-write of the key is on its way
// the takes that arrive queue up, and the next write decides all of them
// at once, so a hot key (the global bucket, which every invitation of
// every instance takes from, or a busy client's) costs an instance about
// one Get and one Update per KV round trip, not per invitation, and
// revision conflicts only come from other instances.
type kvLimiter struct {
	kv       jetstream.KeyValue
	interval time.Duration // 1 / rate
	burst    int
	now      func() time.Time
	batch    bool

	mu     sync.Mutex
	queues map[string]*limitQueue // keys with takes being decided
}

// limitQueue holds the takes of one key waiting for the next write.
type limitQueue struct {
	reqs []*limitReq
}

type limitReq struct {
	n    int
	res  limitRes
	done chan struct{} // closed when res is set
	lead chan struct{} // closed when this request is to write the next batch
}

type limitRes struct {
	wait time.Duration
	ok   bool
	err  error
}

func (l *kvLimiter) take(ctx context.Context, key string, n int) (time.Duration, bool, error) {
	if !l.batch {
		r := l.move(ctx, key, []int{n})[0]
		return r.wait, r.ok, r.err
	}
	req := &limitReq{n: n, done: make(chan struct{}), lead: make(chan struct{})}
	l.mu.Lock()
	if l.queues == nil {
		l.queues = map[string]*limitQueue{}
	}
	q := l.queues[key]
	if q == nil {
		// Nobody is writing this key: lead.
		q = &limitQueue{}
		l.queues[key] = q
		close(req.lead)
	}
	q.reqs = append(q.reqs, req)
	l.mu.Unlock()
	// The leader writes the queued batch (its own request first), then
	// hands the lead to the first request of the next batch. Waiters do
	// not give up on ctx: a queued request may be the next leader, and a
	// batch is bounded in time (see flush).
	select {
	case <-req.done:
	case <-req.lead:
		l.mu.Lock()
		batch := q.reqs
		q.reqs = nil
		l.mu.Unlock()
		l.flush(key, batch)
		l.mu.Lock()
		if len(q.reqs) == 0 {
			delete(l.queues, key)
		} else {
			close(q.reqs[0].lead)
		}
		l.mu.Unlock()
		<-req.done
	}
	return req.res.wait, req.res.ok, req.res.err
}

// flush decides batch in one revision-checked write.
func (l *kvLimiter) flush(key string, batch []*limitReq) {
	ns := make([]int, len(batch))
	for i, r := range batch {
		ns[i] = r.n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*kvAttempt)
	defer cancel()
	res := l.move(ctx, key, ns)
	for i, r := range batch {
		r.res = res[i]
		close(r.done)
	}
}

func (l *kvLimiter) refund(ctx context.Context, key string, n int) error {
	_, _, err := l.take(ctx, key, -n)
	return err
}

// move shifts key's arrival time by each n in turn (n < 0 refunds), skipping
// the takes that do not fit, in one revision-checked write; it retries on
// conflicts and, within ctx, on JetStream unavailability. A write that
// timed out but was stored is taken again by the retry: the error is on
// the safe side (fewer invitations, never more).
func (l *kvLimiter) move(ctx context.Context, key string, ns []int) []limitRes {
	out := make([]limitRes, len(ns))
	fail := func(err error) []limitRes {
		for i := range out {
			out[i] = limitRes{err: err}
		}
		return out
	}
	for {
		now := l.now()
		tat, rev := now, uint64(0)
		var e jetstream.KeyValueEntry
		err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
			e, err = l.kv.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				e, err = nil, nil
			}
			return err
		})
		if err != nil {
			return fail(err)
		}
		if e != nil {
			rev = e.Revision()
			if v, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil && time.Unix(0, v).After(now) {
				tat = time.Unix(0, v)
			}
		}
		moved := false
		for i, n := range ns {
			next := tat.Add(time.Duration(n) * l.interval)
			if n > 0 {
				if ahead := next.Sub(now) - time.Duration(l.burst)*l.interval; ahead > 0 {
					out[i] = limitRes{wait: ahead}
					if n > l.burst {
						out[i].wait = -1
					}
					continue
				}
			} else if next.Before(now) {
				next = now
			}
			tat, moved, out[i] = next, true, limitRes{ok: true}
		}
		if !moved {
			return out
		}
		v := []byte(strconv.FormatInt(tat.UnixNano(), 10))
		actx, cancel := context.WithTimeout(ctx, kvAttempt)
		if rev == 0 {
			_, err = l.kv.Create(actx, key, v)
		} else {
			_, err = l.kv.Update(actx, key, v, rev)
		}
		cancel()
		if err == nil {
			return out
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if !conflict(err) && !unavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return fail(err)
		}
		if !conflict(err) {
			// Unavailable: back off a little before reading again.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return fail(&errUnavailable{err})
			}
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
