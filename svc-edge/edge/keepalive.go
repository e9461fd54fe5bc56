package edge

import (
	"time"

	"confapplet/pkg/contract"
)

// The edge's one pinger keeps its sessions on a wheel of pingSlots slots,
// one per tick: a session sits in the slot of the tick its next ping is
// due, and each tick pings only the sessions of its slot, which then wait a
// whole turn (PingInterval) there. So a tick costs the sessions due, not
// every session: with 10,000 connections, scanning them all ten times a
// second was 7 % of the edge's CPU at 1,000 events/s, and held srv.mu,
// which every connect and disconnect needs, for over a millisecond each
// time. Sessions that ended leave the wheel when their slot comes round.
//
// A tick is a fraction of the keep-alive bounds, so a ping is never late by
// more than that, and at most 100 ms, so the pings (each written by a
// short-lived flusher goroutine) are spread out in time. Token expiry has
// its own timer per session (watchExpiry): it fires once.
type pingWheel struct {
	tick  time.Duration
	slots [][]*session
	at    int // the slot the next tick pings
}

func newPingWheel(c Config) *pingWheel {
	tick := min(c.PingInterval, c.PongWait) / 8
	tick = max(min(tick, 100*time.Millisecond), 5*time.Millisecond)
	n := max(1, int((c.PingInterval+tick/2)/tick))
	return &pingWheel{tick: tick, slots: make([][]*session, n)}
}

// place puts s on the wheel to be pinged first after half to all of a
// turn, so connections that arrived together (a reconnect storm) are not
// pinged together. Under srv.mu.
func (w *pingWheel) place(s *session, r uint64) {
	n := len(w.slots)
	k := n/2 + int(r%uint64(n-n/2)) // in [n/2, n)
	i := (w.at + max(k, 1)) % n
	w.slots[i] = append(w.slots[i], s)
}

func (srv *Server) pingLoop() {
	tk := time.NewTicker(srv.wheel.tick)
	defer tk.Stop()
	var due []*session
	for {
		select {
		case <-srv.pingDone:
			return
		case <-tk.C:
			due = srv.turnWheel(due)
			for i, s := range due {
				if p, ok := s.t.(interface{ ping() }); ok {
					p.ping()
				}
				due[i] = nil
			}
			if cap(due) > 1024 {
				due = nil
			} else {
				due = due[:0]
			}
		}
	}
}

// turnWheel appends to due the sessions of the wheel's current slot that
// are still connected, drops the others from it, and moves to the next
// slot.
func (srv *Server) turnWheel(due []*session) []*session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	w := srv.wheel
	slot := w.slots[w.at]
	keep := slot[:0]
	for _, s := range slot {
		if srv.sessions[s.clientID] == s {
			keep = append(keep, s)
			due = append(due, s)
		}
	}
	clear(slot[len(keep):])
	w.slots[w.at] = keep
	w.at = (w.at + 1) % len(w.slots)
	return due
}

func (srv *Server) stopPinger() { srv.pingStop.Do(func() { close(srv.pingDone) }) }

// watchExpiry closes s with 4004 when the token expiry exp (Unix ns) comes,
// unless a renewed token (RefreshToken) has replaced it by then.
func (s *session) watchExpiry(exp int64) {
	t := time.AfterFunc(time.Until(time.Unix(0, exp)), func() {
		// Swapped to 0: closed once.
		if s.expires.CompareAndSwap(exp, 0) {
			s.logInfo().Msg("connection token expired")
			s.t.Close(contract.CloseTokenExpired)
		}
	})
	s.mu.Lock()
	old := s.expiry
	s.expiry = t
	if s.closed {
		t.Stop()
	}
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
}
