package edge

import (
	"context"
	"encoding/json"
	"strconv"
	"syscall"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/eventlog"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// BenchmarkLiveEvent is one event's way from a JetStream publish (as
// svc-callback makes it) to 10 watchers of one edge, NATS in-process. It
// reports the process CPU per event (publisher, nats-server and edge
// together), which a loaded machine inflates far less than wall time.
func BenchmarkLiveEvent(b *testing.B) {
	e := newEnvWith(b, false)
	srv := benchServer()
	srv.nc = e.ns.Connect(b)
	h := newHub(srv.nc, e.js, zerolog.Nop(), srv.metrics, 5*time.Second)
	defer h.close()
	srv.hub = h
	last := &memTransport{ch: make(chan []byte, 16)}
	ctx := context.Background()
	for i := range 10 {
		var t Transport = &memTransport{}
		if i == 9 {
			t = last
		}
		w := &watch{s: newSession(srv, "c", "client", "", t), confID: "1234"}
		if err := h.add(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	one := 1
	ev := contract.Event{Kind: contract.KindJoined, ConfID: "1234", CallID: "0123456789abcdef0123456789abcdef",
		Number: "13800138000", Result: &one, Time: "20260101120000", Received: time.Now()}
	var seq uint64
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		ev.Seq = seq
		m := nats.NewMsg(contract.EventsSubject("1234"))
		m.Data, _ = json.Marshal(ev)
		m.Header.Set(eventlog.HeaderSeq, strconv.FormatUint(seq, 10))
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
		select {
		case <-last.ch:
		case <-time.After(5 * time.Second):
			b.Fatalf("event %d not delivered", seq)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(seq), "cpu-µs/event")
}
