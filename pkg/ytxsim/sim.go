// Package ytxsim simulates Yuntongxun's IVR conference platform: the REST
// surface of API version 2013-12-26 (paths, sig and Authorization checks,
// XML bodies, in-band status codes), conferences and calls that progress by
// configurable rules, and the HTTP callbacks the platform sends.
//
// A Sim is an http.Handler: tests mount it on an httptest.Server and point a
// yuntongxun.Client at it; cmd deploy/ytxsim serves it on :8883. Under
// /_sim/ it has a control API (hang up a member, list conferences and calls,
// set rules and latency) that is not part of the platform.
//
// All state is in memory behind one mutex. Every simulated delay runs on
// Config.Clock, so a FakeClock makes tests deterministic. See
// docs/yuntongxun.md for every behaviour and how each unknown was decided.
package ytxsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"confapplet/pkg/yuntongxun"
)

// Credentials the simulator accepts when none are configured; the local
// stack and tests use them when no real credentials are set.
const (
	DefaultAccountSID = "8a48b5514a61a814014a8a8a00000001"
	DefaultAuthToken  = "0123456789abcdef0123456789abcdef"
	DefaultAppID      = "8a48b5514a61a814014a8a8a00000002"
)

// Defaults of Config.
const (
	DefaultRetries         = 3
	DefaultRetryBackoff    = time.Second
	DefaultAutoDeleteAfter = 10 * time.Minute
	DefaultLogLimit        = 100000
	// Version is the API version prefix of the platform surface.
	Version = "2013-12-26"
)

// Config configures a Sim. The zero value is usable: default credentials,
// no callbacks (NotifyBaseURL ""), real clock, default rules.
type Config struct {
	AccountSID, AuthToken, AppID string
	// NotifyBaseURL is the application's notification address, as set in the
	// platform console, e.g. http://127.0.0.1:8081/yt/secret. Each callback
	// goes to it joined with the command's relative URL. "" sends none.
	NotifyBaseURL string
	Clock         Clock // nil = real clock
	Format        CallbackFormat
	// CallIDField names the call id element of callbacks: "callSid" (the
	// default, as in the one push we saw verified) or "callid" (as some of
	// the platform's older examples name it). Receivers must accept both.
	CallIDField string
	// InviteWithoutResult sends the invitation-result notification
	// (InviteJoinConf action) without "result" (confid, callSid, number
	// and jointime only): only the join notification then
	// says a call was answered, and a failed call reports no outcome at
	// all. Receivers must never count such a callback as joined.
	InviteWithoutResult bool
	// Retries is how many times a failed callback delivery (transport error
	// or non-2xx) is retried: 0 = DefaultRetries, negative = never.
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles each
	// time. 0 = DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Latency delays every platform answer (real time). With TailRatio > 0 a
	// share of the answers take TailLatency instead: a long tail.
	Latency     time.Duration
	TailLatency time.Duration
	TailRatio   float64
	// Rules decide call progress; nil = DefaultRules().
	Rules []Rule
	// AutoDeleteAfter deletes a conference nobody has joined this long
	// after creation; 0 = DefaultAutoDeleteAfter.
	AutoDeleteAfter time.Duration
	// HTTPClient delivers callbacks; nil = a client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     zerolog.Logger // zero value: no logs
	// Location is the platform's time zone; nil = Asia/Shanghai.
	Location *time.Location
	// Seed makes ids reproducible; 0 = random.
	Seed uint64
	// LogLimit bounds Calls() and Deliveries() to the most recent entries,
	// so a simulator under a long benchmark does not grow without end;
	// 0 = DefaultLogLimit.
	LogLimit int
}

// Sim is the simulated platform. It is safe for concurrent use.
type Sim struct {
	cfg   Config
	clock Clock
	loc   *time.Location
	log   zerolog.Logger
	hc    *http.Client
	// ownTransport is the transport New made for hc, closed by Close.
	ownTransport *http.Transport

	ctx    context.Context // cancelled by Close: stops in-flight deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines and running timer functions

	mu        sync.Mutex
	closed    bool
	rng       *rand.Rand
	rules     []Rule
	latency   time.Duration
	tail      time.Duration
	tailRatio float64
	confs     map[string]*conf
	calls     map[string]*call // every call ever made, by callSid
	callLog   []CallRecord
	usedConf  map[string]bool
	seq       uint64
	timers    map[*simTimer]struct{}
	queues    map[string]*queue // callback queues by confid
	delivered []Delivery
}

// CallRecord is one dial: every number of every InviteJoinConf.
type CallRecord struct {
	ConfID  string    `json:"confid"`
	Number  string    `json:"number"`
	CallSid string    `json:"callSid"`
	OrderID string    `json:"orderId"`
	Time    time.Time `json:"time"`
}

// ConfSnapshot is a conference as GET /_sim/confs shows it.
type ConfSnapshot struct {
	ConfID       string           `json:"confid"`
	VoipToConfID string           `json:"voiptoconfid"`
	MaxMember    int              `json:"maxmember"`
	Created      time.Time        `json:"created"`
	State        int              `json:"state"`
	Count        int              `json:"count"`
	Recording    bool             `json:"recording"`
	Playing      bool             `json:"playing"`
	Members      []MemberSnapshot `json:"members"`
}

// MemberSnapshot is one call of a conference.
type MemberSnapshot struct {
	CallSid string    `json:"callSid"`
	Number  string    `json:"number"`
	State   string    `json:"state"` // ringing, joined, left, failed
	Result  int       `json:"result"`
	Muted   bool      `json:"muted"`
	Invited time.Time `json:"invited"`
	Joined  time.Time `json:"joined,omitzero"`
	Left    time.Time `json:"left,omitzero"`
}

// Delivery is one callback delivery attempt, for tests (Deliveries).
type Delivery struct {
	ConfID  string `json:"confid"`
	Kind    string `json:"kind"`
	URL     string `json:"url"`
	Body    string `json:"body"`
	Attempt int    `json:"attempt"` // 1 = first try
	Status  int    `json:"status"`  // HTTP status, 0 on a transport error
	Err     string `json:"error,omitempty"`
}

// ErrUnknownCall is returned by Hangup for a callSid it does not know or
// that is no longer ringing or joined.
var ErrUnknownCall = errors.New("ytxsim: no such ringing or joined call")

// New returns a Sim. Rules that do not compile are replaced by the
// defaults and logged; use SetRules to get the error.
func New(cfg Config) *Sim {
	if cfg.AccountSID == "" {
		cfg.AccountSID = DefaultAccountSID
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = DefaultAuthToken
	}
	if cfg.AppID == "" {
		cfg.AppID = DefaultAppID
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.AutoDeleteAfter <= 0 {
		cfg.AutoDeleteAfter = DefaultAutoDeleteAfter
	}
	if cfg.CallIDField == "" {
		cfg.CallIDField = "callSid"
	}
	if cfg.LogLimit <= 0 {
		cfg.LogLimit = DefaultLogLimit
	}
	if cfg.Format == "" {
		cfg.Format = FormatDefault
	}
	s := &Sim{
		cfg:       cfg,
		clock:     cfg.Clock,
		loc:       cfg.Location,
		log:       cfg.Logger,
		hc:        cfg.HTTPClient,
		latency:   cfg.Latency,
		tail:      cfg.TailLatency,
		tailRatio: cfg.TailRatio,
		confs:     map[string]*conf{},
		calls:     map[string]*call{},
		usedConf:  map[string]bool{},
		timers:    map[*simTimer]struct{}{},
		queues:    map[string]*queue{},
	}
	if s.clock == nil {
		s.clock = RealClock()
	}
	if s.loc == nil {
		s.loc = yuntongxun.Shanghai()
	}
	if s.hc == nil {
		// Its own transport: callbacks of many conferences go to one host
		// at once, more than DefaultTransport's 2 idle connections per host,
		// and Close can drop its idle connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		s.ownTransport = tr
		s.hc = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rules := cfg.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	var err error
	if s.rules, err = compileRules(rules); err != nil {
		s.log.Error().Err(err).Msg("bad rules, using the defaults")
		s.rules, _ = compileRules(DefaultRules())
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops every timer and in-flight callback delivery and waits for
// the simulator's goroutines to end. Commands after Close fail.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for t := range s.timers {
		t.t.Stop()
	}
	clear(s.timers)
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.ownTransport != nil {
		s.ownTransport.CloseIdleConnections()
	}
}

// trimLog keeps the last limit entries of a log once it is a quarter over,
// so trimming costs O(1) per append on average.
func trimLog[T any](log []T, limit int) []T {
	if len(log) <= limit+limit/4 {
		return log
	}
	return append([]T(nil), log[len(log)-limit:]...)
}

// simTimer is a tracked Clock timer, so Close can stop it.
type simTimer struct{ t Timer }

// after runs f with s.mu held once d has passed, unless the Sim is closed.
// s.mu must be held by the caller.
func (s *Sim) after(d time.Duration, f func()) *simTimer {
	st := &simTimer{}
	st.t = s.clock.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		if _, ok := s.timers[st]; !ok {
			return // stopped after it fired
		}
		delete(s.timers, st)
		f()
	})
	s.timers[st] = struct{}{}
	return st
}

// stop cancels a timer from after; s.mu is held.
func (s *Sim) stop(st *simTimer) {
	if st == nil {
		return
	}
	if _, ok := s.timers[st]; ok {
		delete(s.timers, st)
		st.t.Stop()
	}
}

// ServeHTTP serves the platform surface under /2013-12-26/, the control API
// under /_sim/, and /healthz.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/"+Version+"/"):
		s.servePlatform(w, r)
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		s.serveControl(w, r)
	case r.URL.Path == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// Calls returns the call log: one record per dialled number, oldest first
// (the last Config.LogLimit of them).
func (s *Sim) Calls() []CallRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CallRecord(nil), s.callLog...)
}

// Deliveries returns every callback delivery attempt so far, in order.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.delivered...)
}

// SetRules replaces the call-progress rules for calls dialled from now on.
func (s *Sim) SetRules(rules []Rule) error {
	c, err := compileRules(rules)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.rules = c
	s.mu.Unlock()
	return nil
}

// Rules returns the current rules.
func (s *Sim) Rules() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rule(nil), s.rules...)
}

// SetLatency sets the delay of every platform answer and clears any tail.
func (s *Sim) SetLatency(d time.Duration) {
	s.SetLatencyTail(d, 0, 0)
}

// SetLatencyTail sets the answer delay to d, except a share ratio (0..1) of
// answers that take tail instead.
func (s *Sim) SetLatencyTail(d, tail time.Duration, ratio float64) {
	s.mu.Lock()
	s.latency, s.tail, s.tailRatio = d, tail, ratio
	s.mu.Unlock()
}

// nextLatency picks the delay of one answer.
func (s *Sim) nextLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tailRatio > 0 && s.rng.Float64() < s.tailRatio {
		return s.tail
	}
	return s.latency
}

// Hangup makes a member hang up (joined: it leaves, with a quit callback)
// or refuses a ringing invitation (invite result ResultRejected).
func (s *Sim) Hangup(callSid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, ok := s.calls[callSid]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownCall, callSid)
	}
	cf := s.confs[cl.confID]
	if cf == nil {
		return fmt.Errorf("%w: %s (conference gone)", ErrUnknownCall, callSid)
	}
	switch cl.state {
	case stateJoined:
		s.leave(cf, cl, "")
	case stateRinging:
		s.fail(cf, cl, ResultRejected)
	default:
		return fmt.Errorf("%w: %s is %s", ErrUnknownCall, callSid, cl.state)
	}
	return nil
}

// Conferences returns the live conferences, oldest first.
func (s *Sim) Conferences() []ConfSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConfSnapshot, 0, len(s.confs))
	for _, cf := range s.confs {
		out = append(out, cf.snapshot())
	}
	sortSnapshots(out)
	return out
}

// now is the simulated time in the platform's zone.
func (s *Sim) now() time.Time { return s.clock.Now().In(s.loc) }

// stamp formats t as the platform does.
func (s *Sim) stamp(t time.Time) string { return t.In(s.loc).Format(yuntongxun.TimeLayout) }
