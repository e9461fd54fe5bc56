package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// Every answer leaves in the order its request arrived: a slow request is
// followed by one of each kind of invalid request, valid requests and busy
// refusals, all pipelined, many rounds in a row on one connection.
func TestAnswersInRequestOrder(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.QueueLen = 8 })
	var mu sync.Mutex
	gates := map[string]chan struct{}{}
	gate := func(confID string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[confID] == nil {
			gates[confID] = make(chan struct{})
		}
		return gates[confID]
	}
	e.rsp.handle(contract.MethodQueryConfState, func(m *nats.Msg) (any, *contract.Error) {
		var args struct {
			ConfID string `json:"confid"`
		}
		if json.Unmarshal(m.Data, &args) == nil && strings.HasPrefix(args.ConfID, "9") {
			<-gate(args.ConfID)
		}
		return contract.ConfState{}, nil
	})
	cl := dial(t, ed.url, "order", "")

	// want is one expected answer: its id (null for an unreadable one) and
	// its error code (0 for a result).
	type want struct {
		id   string
		code int
	}
	for round := 1; round <= 40; round++ {
		slow := fmt.Sprintf("9%04d", round)
		id := func(k int) string { return fmt.Sprint(round*100 + k) }
		valid := func(k int) string {
			return `{"jsonrpc":"2.0","id":` + id(k) + `,"method":"QueryConfState","params":["1111"]}`
		}
		cl.send(`{"jsonrpc":"2.0","id":` + id(1) + `,"method":"QueryConfState","params":["` + slow + `"]}`)
		testkit.Eventually(t, "the slow request to start", 5*time.Second, func() bool {
			return e.rsp.hasStarted(contract.MethodQueryConfState, slow)
		})
		// The slow request runs; 8 entries fit in the queue behind it.
		cl.send(`{"jsonrpc":"2.0","id":`)                                                 // -32700, id null
		cl.send(`{"jsonrpc":"1.0","id":` + id(2) + `,"method":"QueryConfState"}`)         // -32600
		cl.send(`{"jsonrpc":"2.0","id":` + id(3) + `,"method":"foobar"}`)                 // -32601
		cl.send(`{"jsonrpc":"2.0","id":` + id(4) + `,"method":"GetConf","params":["x"]}`) // -32602
		if err := cl.c.WriteMessage(websocket.BinaryMessage, []byte("{}")); err != nil {  // -32600, id null
			t.Fatal(err)
		}
		cl.send(`{"jsonrpc":"2.0","method":"foobar"}`) // a notification: never answered
		cl.send(valid(5))
		cl.send(valid(6))
		cl.send(valid(7))
		cl.send(valid(8))                          // the queue is full: -32002
		cl.send(`[]`)                              // -32600, id null
		cl.send(valid(9))                          // -32002
		cl.send(`{"jsonrpc":"2.0","id":` + id(10)) // -32700, id null
		wants := []want{
			{id(1), 0}, {"null", -32700}, {id(2), -32600}, {id(3), -32601}, {id(4), -32602}, {"null", -32600},
			{id(5), 0}, {id(6), 0}, {id(7), 0}, {id(8), -32002}, {"null", -32600}, {id(9), -32002}, {"null", -32700},
		}
		// Open the gate once the edge has read every frame (12 answers and
		// requests then wait behind the slow request), or after a while:
		// the answers' order is asserted below either way.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if queued(ed.srv.sessionOf("order")) == 12 {
				break
			}
		}
		close(gate(slow))
		for i, w := range wants {
			m := cl.mustRead()
			for m.Method != "" {
				m = cl.mustRead()
			}
			code := 0
			if m.Error != nil {
				code = m.Error.Code
			}
			if string(m.ID) != w.id || code != w.code {
				t.Fatalf("round %d, answer %d: %s, want id %s code %d", round, i+1, m.raw, w.id, w.code)
			}
		}
	}
}

// Answers waiting behind a slow request are bounded like the send queue:
// a client that piles up more than SendQueueBytes of them is closed with
// 4001, and nothing of the pile is sent.
func TestWaitingAnswersBounded(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.ReadLimit = 4096; c.SendQueueBytes = 4096 })
	release := make(chan struct{})
	defer close(release)
	e.rsp.handle(contract.MethodQueryConfState, func(m *nats.Msg) (any, *contract.Error) {
		<-release
		return contract.ConfState{}, nil
	})
	cl := dial(t, ed.url, "pile", "")
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	testkit.Eventually(t, "the slow request to start", 5*time.Second, func() bool {
		return e.rsp.hasStarted(contract.MethodQueryConfState, "1234")
	})
	id := `"` + strings.Repeat("x", 200) + `"`
	for i := 0; i < 40; i++ { // about 40 × 290 bytes of answers
		if err := cl.c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":`+id+`,"method":"foobar"}`)); err != nil {
			break // the edge closed already
		}
	}
	_, err := cl.read(5 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != contract.CloseSlowConsumer {
		t.Fatalf("got %v, want close %d", err, contract.CloseSlowConsumer)
	}
}

// queued is the length of s's queue.
func queued(s *session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}
