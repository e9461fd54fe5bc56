package ytxsim

import (
	"sort"
	"sync"
	"time"
)

// Clock is the simulator's time source. Every delay of the simulated
// platform (ringing, answer, hang-up, no-answer timeout, auto-delete,
// callback retry backoff) is an AfterFunc on it, so a FakeClock makes a test
// deterministic. The response latency (Config.Latency) is real time on
// purpose: it models the network, and a fake clock would stall the handler.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f once d has passed, in its own goroutine (real clock)
	// or inside FakeClock.Advance.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the function from running; it reports whether it did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// RealClock returns the wall clock.
func RealClock() Clock { return realClock{} }

// FakeClock is a manual clock for tests. Time moves only in Advance, which
// runs every function that falls due, in time order, in the caller's
// goroutine; when Advance returns, the simulator has made every state change
// up to the new time (callbacks it queued are delivered asynchronously).
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	seq     int
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

type fakeTimer struct {
	c       *FakeClock
	at      time.Time
	seq     int // orders timers due at the same instant by creation
	f       func()
	stopped bool
}

// NewFakeClock returns a FakeClock set to start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// NewFakeClockNow returns a FakeClock set to the current wall time,
// truncated to the second. It is the one way tests start a fake clock: the
// platform refuses a request whose Authorization timestamp is more than 24 h
// from its own clock, and the services sign with the wall clock, so a fake
// clock started at a fixed date breaks every test a day later. Clients that
// can read the fake clock (yuntongxun.Config.Now) should read it too.
func NewFakeClockNow() *FakeClock {
	return NewFakeClock(time.Now().Truncate(time.Second))
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.signal()
	return t
}

// signal wakes BlockUntil waiters; c.mu is held.
func (c *FakeClock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.stopped = true
			t.c.signal()
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d, running every timer due up to the
// new time, including timers those functions schedule within the window.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool {
			if c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].seq < c.timers[j].seq
			}
			return c.timers[i].at.Before(c.timers[j].at)
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.signal()
		c.mu.Unlock()
		// Outside the lock: f may schedule or stop timers.
		t.f()
	}
}

// Pending returns the number of scheduled timers.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil waits until at least n timers are pending or timeout passes,
// and reports whether they are. Tests use it to wait for a goroutine (a
// callback delivery) to schedule its retry before advancing the clock.
func (c *FakeClock) BlockUntil(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := len(c.timers) >= n
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
