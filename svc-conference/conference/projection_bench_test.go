package conference

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"confapplet/pkg/contract"
)

// BenchmarkProjection is the state's cost per event: "joined" events (a
// new member each) for 100 conferences, published ahead and applied by one
// instance's consumer. It reports the process CPU per event (publisher,
// nats-server and service together), robust to a busy machine where wall
// time is not.
//
//	go test -run '^$' -bench Projection -benchtime 5000x ./svc-conference/conference/
func BenchmarkProjection(b *testing.B) {
	e := newEnv(b, envOpts{realClock: true})
	svc := e.start(nil)
	confs := make([]string, 100)
	for i := range confs {
		confs[i] = e.create(fmt.Sprintf("proj%d", i%10), 0)
	}
	applied := svc.met.events.WithLabelValues(contract.KindJoined, "applied")
	base := testCounter(applied)
	one := 0
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		c := confs[n%len(confs)]
		e.mu.Lock()
		e.seq[c]++
		seq := e.seq[c]
		e.mu.Unlock()
		ev := contract.Event{Kind: contract.KindJoined, ConfID: c, CallID: fmt.Sprintf("%032d", n), Number: "13800138000",
			Result: &one, Time: "20261128103000", Received: time.Now().UTC(), Seq: seq}
		data, _ := json.Marshal(ev)
		if _, err := e.js.PublishAsync(contract.EventsSubject(c), data); err != nil {
			b.Fatal(err)
		}
		n++
	}
	deadline := time.Now().Add(60 * time.Second)
	for testCounter(applied)-base < float64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%v of %d events applied", testCounter(applied)-base, n)
		}
		time.Sleep(time.Millisecond)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/event")
}
