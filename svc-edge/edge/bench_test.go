package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/tracing"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// memTransport is an in-memory Transport: it counts what it is given (a
// real transport appends one queue entry per message, which is the only
// per-watcher cost fan-out may have).
type memTransport struct {
	n    int
	last []byte
	ch   chan []byte
}

func (m *memTransport) Write(b []byte) error {
	m.n++
	m.last = b
	if m.ch != nil {
		m.ch <- b
	}
	return nil
}

func (m *memTransport) Close(int) {}

func benchServer() *Server {
	return &Server{cfg: DefaultConfig(), metrics: newMetrics(), log: zerolog.Nop()}
}

// BenchmarkFanOut decodes one stored event, encodes its notification once
// and queues the same bytes to every watcher.
func BenchmarkFanOut_1(b *testing.B)    { benchFanOut(b, 1) }
func BenchmarkFanOut_100(b *testing.B)  { benchFanOut(b, 100) }
func BenchmarkFanOut_1000(b *testing.B) { benchFanOut(b, 1000) }

// BenchmarkFanOutTraced_100 is BenchmarkFanOut_100 with tracing on: the
// stored event carries a traceparent, and the edge makes its one fan-out
// span (handed to an exporter that drops it): the price of tracing per
// event per edge.
func BenchmarkFanOutTraced_100(b *testing.B) {
	tr := tracing.NewSync("svc-edge", "", tracetest.NewNoopExporter())
	hdr := nats.Header{}
	tracing.Inject(tr.Request("InviteJoinConf", "1234", "client"), hdr)
	benchFanOutWith(b, 100, tr, hdr)
}

func benchFanOut(b *testing.B, n int) { benchFanOutWith(b, n, nil, nil) }

func benchFanOutWith(b *testing.B, n int, tr *tracing.Provider, hdr nats.Header) {
	srv := benchServer()
	ws := make([]*watch, n)
	ts := make([]*memTransport, n)
	for i := range ws {
		ts[i] = &memTransport{}
		ws[i] = &watch{s: newSession(srv, "c", "client", "", ts[i]), confID: "1234"}
	}
	one := 1
	raw, _ := json.Marshal(contract.Event{Kind: contract.KindInvite, ConfID: "1234", CallID: "0123456789abcdef0123456789abcdef",
		Number: "13800138000", Result: &one, Time: "20260101120000", Received: time.Now(), Seq: 1})
	cs := &confSub{h: &hub{tr: tr}}
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		_, msg, err := encodeEvent(raw)
		if err != nil {
			b.Fatal(err)
		}
		cs.broadcast(ws, seq, msg, hdr)
	}
	b.StopTimer()
	for _, t := range ts {
		if uint64(t.n) != seq {
			b.Fatalf("watcher got %d of %d", t.n, seq)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq)/float64(n), "ns/watcher")
}

// BenchmarkRequestPath is the edge's request path without the socket:
// decode → bind → queue → NATS request (in-process server, a responder that
// answers at once) → encode the response.
func BenchmarkRequestPath(b *testing.B) {
	ns := testkit.StartNATS(b)
	nc := ns.Connect(b)
	rnc := ns.Connect(b)
	reply := []byte(`{"state":1,"count":2}`)
	if _, err := rnc.Subscribe(contract.ServiceSubject(contract.MethodQueryConfState), func(m *nats.Msg) { _ = m.Respond(reply) }); err != nil {
		b.Fatal(err)
	}
	_ = rnc.Flush()
	srv := benchServer()
	srv.nc = nc
	tr := &memTransport{ch: make(chan []byte, 1)}
	s := newSession(srv, "c", "bench", "", tr)
	req := []byte(`{"jsonrpc":"2.0","id":42,"method":"QueryConfState","params":["12345678"]}`)
	want := `{"jsonrpc":"2.0","id":42,"result":{"state":1,"count":2}}`
	b.ReportAllocs()
	for b.Loop() {
		s.handle(req)
		if got := <-tr.ch; string(got) != want {
			b.Fatalf("got %s", got)
		}
	}
}

// BenchmarkWebSocketRoundTrip is a browser's view: one request at a time
// over a real WebSocket to a real edge, NATS in-process.
func BenchmarkWebSocketRoundTrip(b *testing.B) {
	e := newEnv(b)
	ed := e.edge(func(c *Config) { c.QueueLen = 16 })
	c, err := dialErr(ed.url, "bench", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var i int
	b.ReportAllocs()
	for b.Loop() {
		i++
		if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"QueryConfState","params":["12345678"]}`, i)); err != nil {
			b.Fatal(err)
		}
		_, data, err := c.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if !strings.Contains(string(data), `"result"`) {
			b.Fatalf("got %s", data)
		}
	}
}
