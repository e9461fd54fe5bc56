//go:build cluster || docker

package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/token"
)

// browser is one test client and everything it saw.
type browser struct {
	id      string
	home    int // index of the edge it dials first
	c       *client.Client
	watches []string // conferences it watches (owners: their own)

	mu          sync.Mutex
	events      map[string][]uint64 // confid → seqs in arrival order
	gaps        int                 // OnConfEventsLost notifications
	edge        string              // URL of the current connection
	downAt      time.Time           // when the current outage began (zero when connected)
	reconnects  []time.Duration     // outage durations
	closeCodes  map[int]int         // close code → count
	disconnects int
}

func newBrowser(id string, home int) *browser {
	return &browser{id: id, home: home, events: map[string][]uint64{}, closeCodes: map[int]int{}}
}

func (b *browser) onNote(n client.Notification) {
	if n.Method == "OnConfEventsLost" {
		b.mu.Lock()
		b.gaps++
		b.mu.Unlock()
		return
	}
	if !n.IsEvent() {
		return
	}
	b.mu.Lock()
	b.events[n.ConfID] = append(b.events[n.ConfID], n.Seq)
	b.mu.Unlock()
}

func (b *browser) onConnect(url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.edge = url
	if !b.downAt.IsZero() {
		b.reconnects = append(b.reconnects, time.Since(b.downAt))
		b.downAt = time.Time{}
	}
}

func (b *browser) onDisconnect(code int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeCodes[code]++
	b.disconnects++
	if b.downAt.IsZero() {
		b.downAt = time.Now()
	}
	b.edge = ""
}

// connectedTo returns the URL of the current connection, "" when down.
func (b *browser) connectedTo() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.edge
}

func (b *browser) dial(ctx context.Context, urls []string) error {
	first := urls[b.home]
	var others []string
	for i, u := range urls {
		if i != b.home {
			others = append(others, u)
		}
	}
	c, err := client.Dial(ctx, first, b.id,
		client.WithURLs(others...),
		client.WithReconnect(),
		client.WithBackoff(50*time.Millisecond, time.Second),
		client.WithOperator(operatorToken),
		client.WithTokenSource(func(context.Context) (string, error) {
			return token.Sign(tokenKey, "", token.New(b.id, time.Now(), time.Hour))
		}),
		client.WithHandler(b.onNote),
		client.WithOnConnect(b.onConnect),
		client.WithOnDisconnect(b.onDisconnect),
		client.WithKeepAlive(5*time.Second, 10*time.Second),
	)
	if err != nil {
		return err
	}
	b.c = c
	b.onConnect(first)
	return nil
}

// rpcStats counts RPC outcomes by error name, per phase.
type rpcStats struct {
	mu     sync.Mutex
	ok     int
	errors map[string]int
	phase  string
	phases []string                  // in order
	byPh   map[string]map[string]int // phase → error → count
	okPh   map[string]int            // phase → successful calls
}

func newRPCStats() *rpcStats {
	s := &rpcStats{errors: map[string]int{}, byPh: map[string]map[string]int{}, okPh: map[string]int{}}
	s.setPhase("warm-up")
	return s
}

func (s *rpcStats) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.phases = append(s.phases, p)
	s.mu.Unlock()
}

func errName(err error) string {
	var re *client.RPCError
	switch {
	case errors.As(err, &re):
		if n := re.Name(); n != "" {
			return fmt.Sprintf("%d %s", re.Code, n)
		}
		return fmt.Sprintf("%d", re.Code)
	case errors.Is(err, client.ErrConnectionLost):
		return "connection lost"
	case errors.Is(err, context.DeadlineExceeded):
		return "client timeout"
	case errors.Is(err, client.ErrClosed):
		return "client closed"
	}
	return "other: " + err.Error()
}

func (s *rpcStats) record(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.ok++
		s.okPh[s.phase]++
		return
	}
	k := method + ": " + errName(err)
	s.errors[k]++
	if s.byPh[s.phase] == nil {
		s.byPh[s.phase] = map[string]int{}
	}
	s.byPh[s.phase][k]++
}

// owner drives one conference: invites, and hangs members up, until ctx ends.
type owner struct {
	*browser
	confID string
	stats  *rpcStats
	calls  []string // callids invited, not yet hung up
	sent   atomic.Int64
}

func (o *owner) loop(ctx context.Context, every time.Duration) {
	r := rand.New(rand.NewPCG(uint64(len(o.id)), uint64(time.Now().UnixNano())))
	// The platform deletes a conference when its last member leaves: an
	// anchor member that never hangs up keeps it alive during the test.
	actx, acancel := context.WithTimeout(ctx, 12*time.Second)
	_, err := o.c.InviteJoinConfWith(actx, client.InviteParams{ConfID: o.confID, Number: fmt.Sprintf("139%08d", r.IntN(1e8)), IdempotencyKey: o.id + "-anchor"})
	acancel()
	o.stats.record("InviteJoinConf", err)
	select {
	case <-ctx.Done():
		return
	case <-time.After(2500 * time.Millisecond): // the anchor answers within 2 s
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		if len(o.calls) >= 4 || (len(o.calls) > 0 && r.IntN(3) == 0) {
			i := r.IntN(len(o.calls))
			err := o.c.QuitConf(cctx, o.confID, o.calls[i])
			o.stats.record("QuitConf", err)
			var re *client.RPCError
			if err == nil || errors.As(err, &re) { // done, or the call ended already
				o.calls = append(o.calls[:i], o.calls[i+1:]...)
			}
		} else {
			number := fmt.Sprintf("13%09d", r.IntN(1e9))
			key := fmt.Sprintf("%s-%d", o.id, o.sent.Add(1))
			callID, err := o.c.InviteJoinConfWith(cctx, client.InviteParams{ConfID: o.confID, Number: number, IdempotencyKey: key})
			// A retry with the same key never dials twice: retry once on
			// transport trouble, as a browser would.
			if err != nil && retryable(err) {
				o.stats.record("InviteJoinConf", err)
				time.Sleep(200 * time.Millisecond)
				callID, err = o.c.InviteJoinConfWith(cctx, client.InviteParams{ConfID: o.confID, Number: number, IdempotencyKey: key})
			}
			o.stats.record("InviteJoinConf", err)
			if err == nil {
				o.calls = append(o.calls, callID)
			}
		}
		cancel()
	}
}

func retryable(err error) bool {
	var re *client.RPCError
	if errors.As(err, &re) {
		return re.Retryable()
	}
	return errors.Is(err, client.ErrConnectionLost) || errors.Is(err, context.DeadlineExceeded)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
