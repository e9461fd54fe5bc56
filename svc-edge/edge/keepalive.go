package edge

import (
	"time"

	"confapplet/pkg/contract"
)

// pingLoop is the edge's one pinger: every tick it pings the sessions
// whose PingInterval has passed since their last ping (no timer per
// connection), and closes those whose connection token expired (4004). A
// tick is a fraction of the keep-alive bounds, so a ping is
// never late by more than that, and at most 100 ms, so the pings (each
// written by a short-lived flusher goroutine) are spread out in time.
func (srv *Server) pingLoop() {
	tick := min(srv.cfg.PingInterval, srv.cfg.PongWait) / 8
	tick = max(min(tick, 100*time.Millisecond), 5*time.Millisecond)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	var due, expired []*session
	for {
		select {
		case <-srv.pingDone:
			return
		case now := <-tk.C:
			n := now.UnixNano()
			srv.mu.Lock()
			for _, s := range srv.sessions {
				// Swapped to 0: closed once, not again on every tick
				// until the connection has ended.
				if exp := s.expires.Load(); exp != 0 && exp <= n && s.expires.CompareAndSwap(exp, 0) {
					expired = append(expired, s)
				}
				if s.nextPing <= n {
					s.nextPing = n + int64(srv.cfg.PingInterval)
					due = append(due, s)
				}
			}
			srv.mu.Unlock()
			for i, s := range expired {
				s.logInfo().Msg("connection token expired")
				s.t.Close(contract.CloseTokenExpired)
				expired[i] = nil
			}
			expired = expired[:0]
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

func (srv *Server) stopPinger() { srv.pingStop.Do(func() { close(srv.pingDone) }) }
