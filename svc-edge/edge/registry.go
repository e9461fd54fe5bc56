package edge

import (
	"encoding/json"
	"math/rand/v2"
	"strings"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
)

// Outcomes of register.
const (
	registered = iota
	registerClosing
	registerStale // a newer connection of the client is here already
)

// register makes s the session of its client id, replacing (4000) an older
// one here, and tells other edges to replace theirs. The connection that
// arrived last wins, whatever order the registrations run in.
func (srv *Server) register(s *session) int {
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		return registerClosing
	}
	old := srv.sessions[s.clientID]
	if old != nil && old.start.After(s.start) {
		srv.mu.Unlock()
		return registerStale
	}
	srv.wheel.place(s, rand.Uint64())
	srv.sessions[s.clientID] = s
	srv.mu.Unlock()
	if old != nil {
		old.logInfo().Msg("replaced by a newer connection")
		old.t.Close(contract.CloseReplaced)
		old.close()
	}
	b, _ := json.Marshal(contract.SessionNotice{Edge: srv.id, Conn: s.connID, At: s.start.UnixNano()})
	_ = srv.nc.Publish(contract.SessionSubjectPrefix+s.clientID, b)
	return registered
}

func (srv *Server) unregister(s *session) {
	srv.mu.Lock()
	if srv.sessions[s.clientID] == s {
		delete(srv.sessions, s.clientID)
	}
	srv.mu.Unlock()
}

func (srv *Server) sessionOf(clientID string) *session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[clientID]
}

// onSession replaces a local session when the same client connected to
// another edge.
func (srv *Server) onSession(m *nats.Msg) {
	var n contract.SessionNotice
	if json.Unmarshal(m.Data, &n) != nil || n.Edge == srv.id {
		return
	}
	clientID := strings.TrimPrefix(m.Subject, contract.SessionSubjectPrefix)
	if s := srv.sessionOf(clientID); s != nil && (n.At == 0 || s.start.UnixNano() < n.At) {
		s.logInfo().Str("edge", n.Edge).Msg("replaced by a newer connection on another edge")
		s.t.Close(contract.CloseReplaced)
		s.close()
	}
}

// onOwned starts watching a conference the client created (through any edge).
func (srv *Server) onOwned(m *nats.Msg) {
	var n contract.OwnedNotice
	if json.Unmarshal(m.Data, &n) != nil || !contract.ValidConfID(n.ConfID) {
		return
	}
	if s := srv.sessionOf(strings.TrimPrefix(m.Subject, contract.OwnedSubjectPrefix)); s != nil {
		s.enqueue(job{task: func() { s.watch(n.ConfID, 0, true) }})
	}
}
