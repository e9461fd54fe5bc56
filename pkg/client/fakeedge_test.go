package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

// fakeEdge is a small WebSocket server that behaves per docs/protocol.md
// for what the client depends on: /client/{id}, ?resume=, ids echoed,
// notifications with confid+seq, owned conferences replayed after the
// resume point on connect, WatchConf, close codes. Several fakeEdges may
// share one store, like edges sharing NATS.
type fakeEdge struct {
	t     *testing.T
	srv   *httptest.Server
	store *store

	mu       sync.Mutex
	refuse   int // HTTP status to refuse upgrades with, 0 = accept
	sessions map[string]*session
	resumes  []string // ?resume= of every connect
	tokens   []string // Authorization bearer of every connect, then RefreshToken's
	watches  []string // "confid:since" of every WatchConf
}

type store struct {
	mu     sync.Mutex
	next   int
	owner  map[string]string
	events map[string][]json.RawMessage // confid → notifications, index = seq-1
	edges  []*fakeEdge
}

type session struct {
	clientID string
	ws       *websocket.Conn
	wmu      sync.Mutex
	mu       sync.Mutex
	sent     map[string]uint64 // confid → last seq sent
	watching map[string]bool
}

func newStore() *store {
	return &store{next: 20480000, owner: map[string]string{}, events: map[string][]json.RawMessage{}}
}

func newFakeEdge(t *testing.T, st *store) *fakeEdge {
	e := &fakeEdge{t: t, store: st, sessions: map[string]*session{}}
	st.mu.Lock()
	st.edges = append(st.edges, e)
	st.mu.Unlock()
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.close)
	return e
}

func (e *fakeEdge) url() string { return e.srv.URL }

func (e *fakeEdge) close() {
	e.srv.CloseClientConnections()
	e.srv.Close()
	e.mu.Lock()
	for _, s := range e.sessions {
		s.ws.Close()
	}
	e.mu.Unlock()
}

func (e *fakeEdge) setRefuse(code int) {
	e.mu.Lock()
	e.refuse = code
	e.mu.Unlock()
}

func (e *fakeEdge) resumeParams() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.resumes...)
}

func (e *fakeEdge) watchCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.watches...)
}

// kick closes clientID's connection with code.
func (e *fakeEdge) kick(clientID string, code int) {
	e.mu.Lock()
	s := e.sessions[clientID]
	e.mu.Unlock()
	if s == nil {
		e.t.Errorf("kick: no session %s", clientID)
		return
	}
	s.wmu.Lock()
	s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "test"), time.Now().Add(time.Second))
	s.wmu.Unlock()
	s.ws.Close()
}

// waitSession waits until clientID's connection is registered (the
// handshake completes on the client before the server registers it).
func (e *fakeEdge) waitSession(clientID string) {
	deadline := time.Now().Add(5 * time.Second)
	for !e.connected(clientID) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func (e *fakeEdge) connected(clientID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[clientID] != nil
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}

func (e *fakeEdge) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/client/")
	if !ok || !contract.ClientIDPattern.MatchString(id) {
		http.Error(w, "bad client id", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	refuse := e.refuse
	e.resumes = append(e.resumes, r.URL.Query().Get("resume"))
	if a := r.Header.Get("Authorization"); a != "" {
		e.tokens = append(e.tokens, "connect:"+strings.TrimPrefix(a, "Bearer "))
	}
	e.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "refused", refuse)
		return
	}
	resume := map[string]uint64{}
	if rs := r.URL.Query().Get("resume"); rs != "" {
		for _, item := range strings.Split(rs, ",") {
			c, s, ok := strings.Cut(item, ":")
			n, err := strconv.ParseUint(s, 10, 64)
			if !ok || err != nil {
				http.Error(w, "bad resume", http.StatusBadRequest)
				return
			}
			resume[c] = n
		}
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s := &session{clientID: id, ws: ws, sent: map[string]uint64{}, watching: map[string]bool{}}
	e.mu.Lock()
	if old := e.sessions[id]; old != nil {
		old.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(contract.CloseReplaced, "replaced"), time.Now().Add(time.Second))
		old.ws.Close()
	}
	e.sessions[id] = s
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.sessions[id] == s {
			delete(e.sessions, id)
		}
		e.mu.Unlock()
		ws.Close()
	}()

	// Watch owned conferences from the resume points.
	e.store.mu.Lock()
	var owned []string
	for c, o := range e.store.owner {
		if o == id {
			owned = append(owned, c)
		}
	}
	e.store.mu.Unlock()
	for _, c := range owned {
		e.watch(s, c, resume[c], true)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) > 0 && data[0] == '[' {
			s.write(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32600, "message": "batch requests are not supported"}})
			continue
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(data, &req); err != nil {
			s.write(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32700, "message": "parse error"}})
			continue
		}
		if req.Method == "Sleep" { // answered out of order, to test id matching
			wg.Add(1)
			go func() {
				defer wg.Done()
				var p []int
				json.Unmarshal(req.Params, &p)
				time.Sleep(time.Duration(p[0]) * time.Millisecond)
				s.reply(req.ID, p[0], nil)
			}()
			continue
		}
		res, rerr := e.handle(s, req.Method, req.Params)
		if len(req.ID) == 0 {
			continue // notification: never answered
		}
		s.reply(req.ID, res, rerr)
	}
}

func (s *session) write(v any) {
	b, _ := json.Marshal(v)
	s.writeBytes(b)
}

func (s *session) writeBytes(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	s.ws.WriteMessage(websocket.TextMessage, b)
}

func (s *session) reply(id json.RawMessage, res any, rerr *RPCError) {
	if rerr != nil {
		s.write(map[string]any{"jsonrpc": "2.0", "id": id, "error": rerr})
		return
	}
	s.write(map[string]any{"jsonrpc": "2.0", "id": id, "result": res})
}

// positional or named param i / name.
func param(raw json.RawMessage, i int, name string) json.RawMessage {
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		if i < len(arr) {
			return arr[i]
		}
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		return obj[name]
	}
	return nil
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func (e *fakeEdge) handle(s *session, method string, params json.RawMessage) (any, *RPCError) {
	switch method {
	case "Echo":
		return params, nil
	case "Fail":
		return nil, &RPCError{Code: 1008, Message: "telephony platform error", Data: json.RawMessage(`{"statusCode":"111703"}`)}
	case contract.MethodCreateConf:
		e.store.mu.Lock()
		e.store.next++
		c := strconv.Itoa(e.store.next)
		e.store.owner[c] = s.clientID
		e.store.mu.Unlock()
		e.watch(s, c, 0, false)
		go e.emit(c, contract.NotifyCreate, map[string]any{"callid": "", "createtime": "20261128153000"})
		return c, nil
	case contract.MethodInviteJoinConf:
		c, num := str(param(params, 0, "confid")), str(param(params, 1, "number"))
		if !e.exists(c) {
			return nil, &RPCError{Code: 1001, Message: "conference not found"}
		}
		callid := fmt.Sprintf("%032d", len(num))
		go e.emit(c, contract.NotifyInviteJoin, map[string]any{"callid": callid, "number": num, "jointime": "20261128153009", "result": 0})
		return callid, nil
	case contract.MethodRefreshToken:
		tok := str(param(params, 0, "token"))
		e.mu.Lock()
		e.tokens = append(e.tokens, "refresh:"+tok)
		e.mu.Unlock()
		return map[string]int64{"exp": tokenExp(tok).Unix()}, nil
	case contract.MethodQueryConfState:
		c := str(param(params, 0, "confid"))
		if !e.exists(c) {
			return nil, &RPCError{Code: 1001, Message: "conference not found"}
		}
		return contract.ConfState{State: 1, Count: 1}, nil
	case contract.MethodDismissConf, contract.MethodQuitConf, contract.MethodConfMute, contract.MethodConfUnMute,
		contract.MethodConfRecord, contract.MethodConfStopRecord, contract.MethodUnwatchConf:
		return nil, nil
	case contract.MethodGetConf:
		c := str(param(params, 0, "confid"))
		return contract.Conference{ConfID: c, Owner: s.clientID, Members: []contract.Member{}}, nil
	case contract.MethodWatchConf:
		c := str(param(params, 0, "confid"))
		var since uint64
		json.Unmarshal(param(params, 1, "since"), &since)
		e.mu.Lock()
		e.watches = append(e.watches, fmt.Sprintf("%s:%d", c, since))
		e.mu.Unlock()
		if !e.exists(c) {
			return nil, &RPCError{Code: 1001, Message: "conference not found"}
		}
		e.store.mu.Lock()
		last := uint64(len(e.store.events[c]))
		e.store.mu.Unlock()
		// Replay after the response, like the edge.
		go e.watch(s, c, since, false)
		return WatchResult{ConfID: c, Seq: last}, nil
	}
	return nil, &RPCError{Code: -32601, Message: "method not found"}
}

func (e *fakeEdge) exists(c string) bool {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	_, ok := e.store.owner[c]
	return ok
}

// watch makes s watch c after since and replays stored events.
func (e *fakeEdge) watch(s *session, c string, since uint64, announce bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watching[c] = true
	if s.sent[c] < since {
		s.sent[c] = since
	}
	e.store.mu.Lock()
	evs := e.store.events[c]
	e.store.mu.Unlock()
	if announce {
		s.write(map[string]any{"jsonrpc": "2.0", "method": contract.NotifyWatch, "params": map[string]any{"confid": c, "seq": len(evs)}})
	}
	for i := s.sent[c]; i < uint64(len(evs)); i++ {
		s.writeBytes(evs[i])
	}
	s.sent[c] = max(s.sent[c], uint64(len(evs)))
}

// emit stores a new event of c and pushes it to every watching session of
// every edge of the store.
func (e *fakeEdge) emit(c, method string, params map[string]any) uint64 {
	e.store.mu.Lock()
	seq := uint64(len(e.store.events[c]) + 1)
	p := map[string]any{"confid": c, "seq": seq}
	for k, v := range params {
		p[k] = v
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": p})
	e.store.events[c] = append(e.store.events[c], b)
	edges := append([]*fakeEdge(nil), e.store.edges...)
	e.store.mu.Unlock()
	for _, ed := range edges {
		ed.mu.Lock()
		var ss []*session
		for _, s := range ed.sessions {
			ss = append(ss, s)
		}
		ed.mu.Unlock()
		for _, s := range ss {
			s.mu.Lock()
			if s.watching[c] {
				e.store.mu.Lock()
				evs := e.store.events[c]
				e.store.mu.Unlock()
				for i := s.sent[c]; i < uint64(len(evs)); i++ {
					s.writeBytes(evs[i])
				}
				s.sent[c] = max(s.sent[c], uint64(len(evs)))
			}
			s.mu.Unlock()
		}
	}
	return seq
}

// raw pushes arbitrary bytes to clientID's session.
func (e *fakeEdge) raw(clientID string, b string) {
	e.mu.Lock()
	s := e.sessions[clientID]
	e.mu.Unlock()
	s.writeBytes([]byte(b))
}
