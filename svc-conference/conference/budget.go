package conference

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"

	"github.com/prometheus/client_golang/prometheus"
)

// budget is the call budget that no number of client ids can exceed: the
// per-client limits of guard.go hold per identity, and identities are free,
// so these hold for the whole service (every instance together) and per
// source address (the edge passes it, contract.HeaderSource):
//
//   - calls started per minute and conferences created per minute, cluster
//     wide: GCRA buckets in the rate-limit KV bucket, updated with
//     revision-checked writes (kvLimiter), so concurrent instances can never
//     together take more than the bucket holds;
//   - the same two per source address (IPv4, or the IPv6 /64);
//   - calls in progress (ringing or joined): counted from the in-memory view
//     of every conference record (view.go) plus this instance's invitations
//     not yet recorded. Instances decide from their own view, so two
//     deciding in the same instant may together exceed it by the calls they
//     decide at once; the calls-per-minute bucket, which is exact, bounds that.
//
// Every refusal is CodeRateLimited with error.data {"limit", "scope",
// "retry_after_ms"}, counted in budget_refusals_total{limit} and logged.
type budget struct {
	calls, confs       *kvLimiter // cluster wide; nil = off
	srcCalls, srcConfs *kvLimiter // per source address; nil = off
	maxLive            int        // 0 = off
	view               *confView
	reserved           atomic.Int64 // calls this instance allowed and has not recorded yet
	refused            *prometheus.CounterVec
}

// Limit names, as refusals and the metric name them.
const (
	limitCallsPerMinute       = "calls_per_minute"
	limitConfsPerMinute       = "conferences_per_minute"
	limitLiveCalls            = "live_calls"
	limitSourceCallsPerMinute = "source_calls_per_minute"
	limitSourceConfsPerMinute = "source_conferences_per_minute"
)

// Keys in RateLimitBucket: '=' starts no client id, so no client's bucket
// shares them.
const (
	budgetCallsKey = "=calls"
	budgetConfsKey = "=confs"
)

// liveRetry is the retry hint of a live-calls refusal: calls end on their
// own time; a few seconds is a reasonable first wait.
const liveRetry = 5 * time.Second

// newBudget returns the budget of cfg, its refusal counter registered in
// reg; nil when every budget is off.
func newBudget(cfg Config, st *store, reg prometheus.Registerer) *budget {
	if budgetRefill(cfg) == 0 && cfg.MaxLiveCalls == 0 {
		return nil
	}
	b := &budget{maxLive: cfg.MaxLiveCalls, view: st.view,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "budget_refusals_total",
			Help: "Invitations and creations refused by the call budget, by the limit that was hit: an attack shows here.",
		}, []string{"limit"})}
	limits := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "confapplet", Subsystem: "conference", Name: "budget_limit",
		Help: "The call budget's settings, by limit (per minute, or calls at once for live_calls); a limit that is off is not exported. Alerts compare the spend with them.",
	}, []string{"limit"})
	for limit, n := range map[string]int{limitCallsPerMinute: cfg.CallsPerMinute, limitConfsPerMinute: cfg.ConfsPerMinute,
		limitLiveCalls: cfg.MaxLiveCalls, limitSourceCallsPerMinute: cfg.SourceCallsPerMinute, limitSourceConfsPerMinute: cfg.SourceConfsPerMinute} {
		b.refused.WithLabelValues(limit) // exported from the start, so rate() sees the first refusal
		if n > 0 {
			limits.WithLabelValues(limit).Set(float64(n))
		}
	}
	reg.MustRegister(b.refused, limits)
	perMinute := func(n int) *kvLimiter {
		if n <= 0 || st.limits == nil {
			return nil
		}
		return &kvLimiter{kv: st.limits, interval: time.Minute / time.Duration(n), burst: n, now: time.Now, batch: true}
	}
	b.calls, b.confs = perMinute(cfg.CallsPerMinute), perMinute(cfg.ConfsPerMinute)
	b.srcCalls, b.srcConfs = perMinute(cfg.SourceCallsPerMinute), perMinute(cfg.SourceConfsPerMinute)
	return b
}

// budgetRefill is how long the slowest budget bucket takes to refill (the
// rate-limit bucket's keys may expire after it); 0 when none is on.
func budgetRefill(cfg Config) time.Duration {
	if cfg.CallsPerMinute > 0 || cfg.ConfsPerMinute > 0 || cfg.SourceCallsPerMinute > 0 || cfg.SourceConfsPerMinute > 0 {
		return time.Minute
	}
	return 0
}

// sourceKey is the bucket key of a source address: an IPv4 address, or
// the /64 of an IPv6 one (one subscriber's usual allocation); "" when the
// address is missing or malformed (no per-source limit applies).
func sourceKey(kind, addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "=src-" + kind + "." + strings.ReplaceAll(p.Addr().String(), ":", "_")
	}
	return "=src-" + kind + "." + ip.String()
}

// refusal is a budget refusal naming limit.
func refusal(limit, scope, msg string, wait time.Duration) *contract.Error {
	return contract.Errorf(contract.CodeRateLimited, "%s", msg).
		WithData(map[string]any{"limit": limit, "scope": scope, "retry_after_ms": wait.Milliseconds()})
}

// step is one bucket a decision takes from, in order.
type step struct {
	l           *kvLimiter
	key         string
	limit       string
	scope, what string
}

// takeAll takes n from every step, or from none: a later refusal gives the
// earlier steps their tokens back.
func takeAll(ctx context.Context, n int, steps []step) (*contract.Error, string) {
	var taken []step
	refund := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 2*kvAttempt)
		defer cancel()
		for _, s := range taken {
			_ = s.l.refund(rctx, s.key, n)
		}
	}
	for _, s := range steps {
		if s.l == nil || s.key == "" {
			continue
		}
		wait, ok, err := s.l.take(ctx, s.key, n)
		if err != nil {
			refund()
			return limitStateError(err), ""
		}
		if !ok {
			refund()
			if wait < 0 {
				wait = time.Minute
			}
			return refusal(s.limit, s.scope, s.what, wait), s.limit
		}
		taken = append(taken, s)
	}
	return nil, ""
}

// allowCalls decides n calls from source. On success the caller must call
// release(n) once the calls are recorded (or failed), and refundCalls if it
// does not dial after all.
func (b *budget) allowCalls(ctx context.Context, source string, n int) (*contract.Error, string) {
	if b == nil {
		return nil, ""
	}
	if b.maxLive > 0 {
		counted, ok := b.view.liveCalls()
		if !ok {
			// Fail closed: no paid call without the limit checked.
			return contract.Errorf(contract.CodeUnavailable, "calls in progress cannot be counted right now; retry"), limitLiveCalls
		}
		if live := int64(counted) + b.reserved.Add(int64(n)); live > int64(b.maxLive) {
			b.reserved.Add(-int64(n))
			return refusal(limitLiveCalls, "cluster", "too many calls in progress in the service", liveRetry), limitLiveCalls
		}
	}
	e, limit := takeAll(ctx, n, []step{
		{b.srcCalls, sourceKey("calls", source), limitSourceCallsPerMinute, "source", "call budget of this source address reached"},
		{b.calls, budgetCallsKey, limitCallsPerMinute, "cluster", "call budget of the service reached"},
	})
	if e != nil && b.maxLive > 0 {
		b.reserved.Add(-int64(n))
	}
	return e, limit
}

// release ends the reservation of n calls allowed by allowCalls.
func (b *budget) release(n int) {
	if b != nil && b.maxLive > 0 {
		b.reserved.Add(-int64(n))
	}
}

// refundCalls gives back n calls allowed by allowCalls and not dialled.
func (b *budget) refundCalls(source string, n int) {
	if b == nil {
		return
	}
	b.release(n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*kvAttempt)
	defer cancel()
	if b.srcCalls != nil {
		if k := sourceKey("calls", source); k != "" {
			_ = b.srcCalls.refund(ctx, k, n)
		}
	}
	if b.calls != nil {
		_ = b.calls.refund(ctx, budgetCallsKey, n)
	}
}

// allowConf decides one conference from source.
func (b *budget) allowConf(ctx context.Context, source string) (*contract.Error, string) {
	if b == nil {
		return nil, ""
	}
	return takeAll(ctx, 1, []step{
		{b.srcConfs, sourceKey("confs", source), limitSourceConfsPerMinute, "source", "conference budget of this source address reached"},
		{b.confs, budgetConfsKey, limitConfsPerMinute, "cluster", "conference budget of the service reached"},
	})
}

// refuseBudget counts and logs a budget refusal (limit "" when the budget
// could not be checked: nothing is counted, the error says so).
func (s *Service) refuseBudget(c *call, e *contract.Error, limit string) *contract.Error {
	if limit != "" && e.Code == contract.CodeRateLimited {
		s.budget.refused.WithLabelValues(limit).Inc()
	}
	c.log.Warn().Str("limit", limit).Str("source", c.source).Str("code", string(e.Code)).Str("error", e.Message).Msg("call budget refused")
	return e
}
