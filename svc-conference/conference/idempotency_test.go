package conference

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go/jetstream"
)

// TestIdempotentInvite: a retried InviteJoinConf with the same key returns
// the first call id and the simulator's call log shows one dial, also when
// the retries arrive while the first request is still at the platform.
func TestIdempotentInvite(t *testing.T) {
	e := newEnv(t, envOpts{latency: 150 * time.Millisecond})
	e.start(nil)
	e.start(nil) // two instances: retries may land on either
	confID := e.create("alice", 20)

	req := contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678", IdempotencyKey: "k-1"}
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { mustJSON(t, e.must(contract.MethodInviteJoinConf, "alice", req), &got[i]) })
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] || id == "" {
			t.Fatalf("replies differ: %v", got)
		}
	}
	// A later retry too.
	var again string
	mustJSON(t, e.must(contract.MethodInviteJoinConf, "alice", req), &again)
	if again != got[0] {
		t.Fatalf("retry got %s, first %s", again, got[0])
	}
	if calls := e.sim.Calls(); len(calls) != 1 || calls[0].CallSid != got[0] {
		t.Fatalf("simulator dialled %d times: %+v", len(calls), calls)
	}
	if c := e.getConf("alice", confID); len(c.Members) != 1 {
		t.Fatalf("members %+v", c.Members)
	}

	// Same key, other params: conflict, no dial.
	other := req
	other.Number = "13912345678"
	e.fails(contract.CodeIdempotencyUsed, contract.MethodInviteJoinConf, hdr("alice"), other)
	// Same key from another client is another key.
	bobConf := e.create("bob", 5)
	e.must(contract.MethodInviteJoinConf, "bob", contract.InviteJoinConfRequest{ConfID: bobConf, Number: "13812345678", IdempotencyKey: "k-1"})
	// Same key for CreateConf is another key.
	e.must(contract.MethodCreateConf, "alice", contract.CreateConfRequest{IdempotencyKey: "k-1"})
	if calls := e.sim.Calls(); len(calls) != 2 {
		t.Fatalf("simulator dialled %d times, want 2", len(calls))
	}
}

// TestIdempotentCreate: CreateConf with a key creates one conference.
func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t, envOpts{latency: 100 * time.Millisecond})
	e.start(nil)
	req := contract.CreateConfRequest{MaxMember: 5, IdempotencyKey: "create-once"}
	ids := make([]string, 5)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { mustJSON(t, e.must(contract.MethodCreateConf, "alice", req), &ids[i]) })
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %v", ids)
		}
	}
	if n := len(e.sim.Conferences()); n != 1 {
		t.Fatalf("simulator has %d conferences", n)
	}
	e.fails(contract.CodeIdempotencyUsed, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{MaxMember: 6, IdempotencyKey: "create-once"})
}

// TestIdempotentFailure: a definite refusal releases the key, so a retry
// runs again once the refusal's cause is gone.
func TestIdempotentFailure(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(func(c *Config) { c.InviteRatePerSec, c.InviteBurst = 0.001, 1 })
	confID := e.create("alice", 5)
	e.invite("alice", confID, "13812345678") // uses the only token
	req := contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345678", IdempotencyKey: "k"}
	e.fails(contract.CodeRateLimited, contract.MethodInviteJoinConf, hdr("alice"), req)
	e.fails(contract.CodeRateLimited, contract.MethodInviteJoinConf, hdr("alice"), req)
	if n := len(e.sim.Calls()); n != 1 {
		t.Fatalf("dialled %d", n)
	}
}

// TestRateLimitsService: the per-client and global invitation limits hold
// end to end, and refused invitations never reach the platform.
func TestRateLimitsService(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(func(c *Config) {
		c.InviteRatePerSec, c.InviteBurst = 0.001, 3 // effectively no refill during the test
		c.GlobalRatePerSec, c.GlobalBurst = 0.001, 5
	})
	confA := e.create("alice", 20)
	confB := e.create("bob", 20)
	// alice: 3 numbers in one request use her whole burst.
	e.invite("alice", confA, "13800000011#13800000012#13800000013")
	cerr := e.fails(contract.CodeRateLimited, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confA, Number: "13800000014"})
	if len(cerr.Data) == 0 {
		t.Fatal("no retry data")
	}
	// bob has his own bucket, but the global one has 2 left.
	e.invite("bob", confB, "13800000021")
	e.invite("bob", confB, "13800000022")
	e.fails(contract.CodeRateLimited, contract.MethodInviteJoinConf, hdr("bob"), contract.InviteJoinConfRequest{ConfID: confB, Number: "13800000023"})
	if n := len(e.sim.Calls()); n != 5 {
		t.Fatalf("simulator dialled %d, want 5", n)
	}
}

// TestConfsPerClient: the live-conferences limit frees up when one ends.
func TestConfsPerClient(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(func(c *Config) { c.MaxConfsPerClient = 2 })
	first := e.create("alice", 3)
	e.create("alice", 3)
	e.fails(contract.CodeLimit, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{})
	e.create("bob", 3) // others are not affected
	e.publishEvent(contract.Event{Kind: contract.KindDeleted, ConfID: first})
	testkit.Eventually(t, "slot freed", 10*time.Second, func() bool {
		_, cerr := e.call(contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{})
		return cerr == nil
	})
}

// TestRateLimitSharedByInstances: a client's invitation rate is one bucket
// for all instances, however the queue group spreads its requests.
func TestRateLimitSharedByInstances(t *testing.T) {
	e := newEnv(t, envOpts{})
	lim := func(c *Config) { c.InviteRatePerSec, c.InviteBurst = 0.001, 4 }
	a, b := e.start(lim), e.start(lim)
	confID := e.create("alice", 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 12 {
		wg.Go(func() {
			_, cerr := e.call(contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: fmt.Sprintf("137%08d", i)})
			code := "ok"
			if cerr != nil {
				code = string(cerr.Code)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes["ok"] != 4 || codes[string(contract.CodeRateLimited)] != 8 {
		t.Fatalf("outcomes %v, want 4 ok and 8 rate_limited", codes)
	}
	if n := len(e.sim.Calls()); n != 4 {
		t.Fatalf("simulator dialled %d", n)
	}
	for _, s := range []*Service{a, b} {
		for _, ep := range s.svc.Stats().Endpoints {
			if ep.Name == contract.MethodInviteJoinConf && ep.NumRequests == 0 {
				t.Logf("one instance served none of the 12 (the queue group picks at random)")
			}
		}
	}
}

// TestIdempotentAmbiguous: an invitation whose platform answer never came
// (the deadline passed mid-request) may have dialled, so its retry gets
// the same failure and dials nothing; a new key dials.
func TestIdempotentAmbiguous(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	confID := e.create("alice", 5)
	e.sim.SetLatency(3 * time.Second)
	req := contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678", IdempotencyKey: "slow"}
	soon := func() string { return strconv.FormatInt(time.Now().Add(time.Second).UnixMilli(), 10) }
	first := e.fails(contract.CodePlatformDown, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, soon()), req)
	e.sim.SetLatency(0)
	again := e.fails(contract.CodePlatformDown, contract.MethodInviteJoinConf, hdr("alice"), req)
	if again.Message != first.Message {
		t.Fatalf("retry got %q, first %q", again.Message, first.Message)
	}
	if n := len(e.sim.Calls()); n != 0 {
		t.Fatalf("dialled %d", n)
	}
	req.IdempotencyKey = "fresh"
	e.must(contract.MethodInviteJoinConf, "alice", req)
	if n := len(e.sim.Calls()); n != 1 {
		t.Fatalf("dialled %d", n)
	}
}

// TestGlobalRateSharedByInstances (item 6): the global invitation rate is
// one bucket in KV for all instances: two instances together dial only
// the global burst, not twice it.
func TestGlobalRateSharedByInstances(t *testing.T) {
	e := newEnv(t, envOpts{})
	lim := func(c *Config) { c.GlobalRatePerSec, c.GlobalBurst, c.OperatorToken = 0.001, 4, "op-token" }
	e.start(lim)
	e.start(lim)
	confID := e.create("op", 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 12 {
		wg.Go(func() {
			// Different clients (operator token: any of them may invite):
			// only the global limit applies.
			_, cerr := e.call(contract.MethodInviteJoinConf, hdr(fmt.Sprintf("client%d", i), contract.HeaderOperator, "op-token"),
				contract.InviteJoinConfRequest{ConfID: confID, Number: fmt.Sprintf("137%08d", i)})
			code := "ok"
			if cerr != nil {
				code = string(cerr.Code)
				var d struct {
					Scope string `json:"scope"`
				}
				if json.Unmarshal(cerr.Data, &d) == nil && d.Scope != "" {
					code += "/" + d.Scope
				}
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes["ok"] != 4 || codes[string(contract.CodeRateLimited)+"/global"] != 8 {
		t.Fatalf("outcomes %v, want 4 ok and 8 rate_limited/global", codes)
	}
	if n := len(e.sim.Calls()); n != 4 {
		t.Fatalf("simulator dialled %d", n)
	}
}

// TestGlobalLimiterBatches: concurrent takes of one instance are decided
// together (group commit) and exactly the burst fits.
func TestGlobalLimiterBatches(t *testing.T) {
	e := newEnv(t, envOpts{})
	kv, err := e.js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: RateLimitBucket})
	if err != nil {
		t.Fatal(err)
	}
	l := &kvLimiter{kv: kv, interval: time.Hour, burst: 50, now: time.Now, batch: true}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			_, yes, err := l.take(context.Background(), globalLimitKey, 1)
			switch {
			case err != nil:
				t.Error(err)
			case yes:
				ok.Add(1)
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || refused.Load() != 150 {
		t.Fatalf("%d ok, %d refused; want 50 and 150", ok.Load(), refused.Load())
	}
	e2, err := kv.Get(context.Background(), globalLimitKey)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Revision() >= 50 {
		t.Logf("%d writes for 50 takes: no batching happened (timing)", e2.Revision())
	}
}
