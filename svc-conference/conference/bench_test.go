package conference

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// BenchmarkInvite measures InviteJoinConf through NATS request/reply, one
// service instance (default concurrency 64), the real client and the
// simulator answering every platform request after 50 ms. Each invitation
// is a KV read, a platform call and a revision-checked KV write.
//
//	go test -run '^$' -bench Invite -benchtime 2000x ./svc-conference/conference/
func BenchmarkInvite(b *testing.B) { benchInvite(b, nil) }

// BenchmarkInviteLimited is BenchmarkInvite with both invitation rate
// limits on (set too high to refuse anything): the per-client bucket and
// the global one in KV, so it measures what the shared limits cost.
func BenchmarkInviteLimited(b *testing.B) {
	benchInvite(b, func(c *Config) {
		c.InviteRatePerSec, c.InviteBurst = 1e6, 1e6
		c.GlobalRatePerSec, c.GlobalBurst = 1e6, 1e6
	})
}

func benchInvite(b *testing.B, mod func(*Config)) {
	e := newEnv(b, envOpts{latency: 50 * time.Millisecond})
	e.start(mod)
	// Up to 250 invitations per conference (maxmember 300; nobody answers,
	// as the simulator's clock stands still), spread round robin.
	confs := make([]string, b.N/250+1)
	for i := range confs {
		confs[i] = e.create(fmt.Sprintf("bench%d", i), 300)
	}
	var next, failed atomic.Int64
	lat := make([]time.Duration, b.N)
	b.SetParallelism(64) // 128 callers on 2 cores: more than the pool holds
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			ci := int(i) % len(confs) // spread: one conference takes ≤ 250
			body, _ := json.Marshal(contract.InviteJoinConfRequest{ConfID: confs[ci], Number: fmt.Sprintf("139%08d", i)})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			t0 := time.Now()
			m, err := e.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: contract.ServiceSubject(contract.MethodInviteJoinConf),
				Header: hdr(fmt.Sprintf("bench%d", ci)), Data: body})
			lat[i] = time.Since(t0)
			cancel()
			if err != nil || m.Header.Get(micro.ErrorCodeHeader) != "" {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d invitations failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "invites/s")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	if got := len(e.sim.Calls()); got != b.N {
		b.Fatalf("simulator dialled %d, want %d", got, b.N)
	}
}

// BenchmarkQueryConfState is one caller's serial QueryConfState round
// trips over NATS (the path the rpc bench's closed loop measures, without
// the edge): with -cpuprofile it shows the per-request costs.
//
//	go test -run '^$' -bench QueryConfState -benchtime 20000x -cpuprofile /tmp/q.prof ./svc-conference/conference/
func BenchmarkQueryConfState(b *testing.B) {
	e := newEnv(b, envOpts{})
	e.start(nil)
	confID := e.create("bench", 10)
	body, _ := json.Marshal(contract.ConfRequest{ConfID: confID})
	h := hdr("bench")
	subj := contract.ServiceSubject(contract.MethodQueryConfState)
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		m, err := e.nc.RequestMsg(&nats.Msg{Subject: subj, Header: h, Data: body}, 5*time.Second)
		lat[i] = time.Since(t0)
		if err != nil || m.Header.Get(micro.ErrorCodeHeader) != "" {
			b.Fatalf("QueryConfState: %v %v", err, m)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
