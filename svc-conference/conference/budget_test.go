package conference

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// defaults puts back the guard and budget defaults that env.config lifts.
func defaults(c *Config) {
	d := DefaultConfig()
	c.InviteRatePerSec, c.InviteBurst, c.GlobalRatePerSec, c.GlobalBurst = d.InviteRatePerSec, d.InviteBurst, d.GlobalRatePerSec, d.GlobalBurst
	c.MaxConfsPerClient = d.MaxConfsPerClient
	c.CallsPerMinute, c.ConfsPerMinute, c.MaxLiveCalls = d.CallsPerMinute, d.ConfsPerMinute, d.MaxLiveCalls
	c.SourceCallsPerMinute, c.SourceConfsPerMinute = d.SourceCallsPerMinute, d.SourceConfsPerMinute
}

// limitOf is error.data.limit of a budget refusal ("" for other errors).
func limitOf(e *contract.Error) string {
	var d struct {
		Limit string `json:"limit"`
		Retry *int64 `json:"retry_after_ms"`
	}
	if e == nil || e.Code != contract.CodeRateLimited || json.Unmarshal(e.Data, &d) != nil || d.Retry == nil || *d.Retry <= 0 {
		return ""
	}
	return d.Limit
}

// Toll fraud with many identities, against the defaults and two instances
// sharing the work: 70 client ids each create a conference and invite 10
// numbers at once. The per-client limits hold per id, ids are free, so
// only the cluster-wide budget can stop it: at most 30 calls start, and
// every refusal names the limit that was hit.
func TestBudgetManyIdentities(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.start(defaults)
	b := e.start(defaults)
	const ids, perID = 70, 10
	var mu sync.Mutex
	refusals := map[string]int{}
	created := 0
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			h := hdr(fmt.Sprintf("fraud-%d", i))
			res, cerr := e.call(contract.MethodCreateConf, h, contract.CreateConfRequest{})
			if cerr != nil {
				mu.Lock()
				refusals[limitOf(cerr)]++
				mu.Unlock()
				return
			}
			var confID string
			mustJSON(t, res, &confID)
			nums := make([]string, perID)
			for j := range nums {
				nums[j] = fmt.Sprintf("139%08d", i*perID+j)
			}
			_, cerr = e.call(contract.MethodInviteJoinConf, h, contract.InviteJoinConfRequest{ConfID: confID, Number: strings.Join(nums, "#")})
			mu.Lock()
			created++
			if cerr != nil {
				refusals[limitOf(cerr)]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	calls := len(e.sim.Calls())
	t.Logf("70 ids × 10 numbers: %d conferences created, %d calls started, refusals by limit %v", created, calls, refusals)
	if calls > 30 {
		t.Fatalf("%d calls started, want at most 30", calls)
	}
	if calls == 0 || created == 0 {
		t.Fatalf("nothing got through (%d conferences, %d calls): the budget refuses everything", created, calls)
	}
	if n := refusals[""]; n > 0 {
		t.Fatalf("%d refusals do not name a limit with a retry hint", n)
	}
	// An invitation is refused whole: by the calls-per-minute bucket, or
	// earlier by the calls in progress (reserved by concurrent invitations).
	if refusals[limitConfsPerMinute] != ids-created || refusals[limitCallsPerMinute]+refusals[limitLiveCalls] != created-calls/perID {
		t.Fatalf("refusals %v for %d created and %d calls", refusals, created, calls)
	}
	counted := 0.0
	for _, s := range []*Service{a, b} {
		counted += testutil.ToFloat64(s.budget.refused.WithLabelValues(limitCallsPerMinute)) +
			testutil.ToFloat64(s.budget.refused.WithLabelValues(limitConfsPerMinute)) +
			testutil.ToFloat64(s.budget.refused.WithLabelValues(limitLiveCalls))
	}
	if int(counted) != refusals[limitCallsPerMinute]+refusals[limitConfsPerMinute]+refusals[limitLiveCalls] {
		t.Fatalf("budget_refusals_total %v, refusals %v", counted, refusals)
	}
}

// Calls in progress are counted over every conference (the view), per
// source address budgets hold per IPv4 address and IPv6 /64, and a
// refusal by a later budget gives the earlier ones their tokens back.
func TestBudgetLiveAndSource(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(func(c *Config) {
		c.MaxLiveCalls = 8
		c.SourceCallsPerMinute = 4
	})
	src := func(client, addr string) map[string][]string {
		return hdr(client, contract.HeaderSource, addr)
	}
	invite := func(client, addr, confID string, nums ...string) *contract.Error {
		_, cerr := e.call(contract.MethodInviteJoinConf, src(client, addr), contract.InviteJoinConfRequest{ConfID: confID, Number: strings.Join(nums, "#")})
		return cerr
	}
	c1 := e.create("a", 20)
	if cerr := invite("a", "203.0.113.7", c1, "13900000001", "13900000002", "13900000003"); cerr != nil {
		t.Fatal(cerr)
	}
	// The same address: 3 + 2 > 4 per minute.
	if cerr := invite("a", "203.0.113.7", c1, "13900000004", "13900000005"); limitOf(cerr) != limitSourceCallsPerMinute {
		t.Fatalf("second invitation from one address: %v", cerr)
	}
	// IPv6: one /64 is one source (2 + 3 > 4).
	c2 := e.create("b", 20)
	if cerr := invite("b", "2001:db8:1:2::10", c2, "13900000011", "13900000012"); cerr != nil {
		t.Fatal(cerr)
	}
	if cerr := invite("b", "2001:db8:1:2::99", c2, "13900000013", "13900000014", "13900000015"); limitOf(cerr) != limitSourceCallsPerMinute {
		t.Fatalf("same /64: %v", cerr)
	}
	testkit.Eventually(t, "the view counts 5 live calls", 10*time.Second, func() bool { n, ok := svc.st.view.liveCalls(); return ok && n == 5 })
	// The refusals reserved nothing: 5 + 3 = 8 live fit, from other sources.
	if cerr := invite("b", "198.51.100.1", c2, "13900000013", "13900000014", "13900000015"); cerr != nil {
		t.Fatalf("8th live call: %v", cerr)
	}
	testkit.Eventually(t, "the view counts 8 live calls", 10*time.Second, func() bool { n, ok := svc.st.view.liveCalls(); return ok && n == 8 })
	if cerr := invite("b", "198.51.100.2", c2, "13900000016"); limitOf(cerr) != limitLiveCalls {
		t.Fatalf("9th live call: %v", cerr)
	}
	if n := len(e.sim.Calls()); n != 8 {
		t.Fatalf("%d calls dialled, want 8", n)
	}
}
