//go:build cluster || docker

package clustertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
)

// The load and the checks both fault tests share: the processes one
// (cluster_test.go) and the containers one (docker_test.go).

// Scale of the test (the numbers).
const (
	numBrowsers    = 200
	numConfs       = 20
	watchesPerUser = 3
	inviteEvery    = 700 * time.Millisecond // per owner
	reconnectBound = 10 * time.Second
	operatorToken  = "clustertest-operator"
	// tokenKey is the edges' HS256 key: the browsers connect with tokens
	// they mint for themselves (load_test.go), as in production.
	tokenKey = "clustertest-token-key"
)

// fault is one line of the summary.
type fault struct {
	name     string
	affected int           // browsers that lost their connection
	slowest  time.Duration // slowest reconnect of those
	note     string
}

// run is one fault test: its browsers, their conferences and the RPC tally.
type run struct {
	t        *testing.T
	ctx      context.Context
	stats    *rpcStats
	owners   []*owner
	browsers []*browser
	faults   []fault
	stopLoad context.CancelFunc
	loadWG   sync.WaitGroup
}

// connect makes 20 owners create a conference each and 180 watchers watch 3
// each; every browser dials urls[home] first and rotates over the others.
func connect(ctx context.Context, t *testing.T, urls []string) *run {
	r := &run{t: t, ctx: ctx, stats: newRPCStats()}
	r.owners = make([]*owner, numConfs)
	for i := range r.owners {
		b := newBrowser(fmt.Sprintf("owner-%02d", i), i%len(urls))
		if err := b.dial(ctx, urls); err != nil {
			t.Fatalf("dial %s: %v", b.id, err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := b.c.CreateConfWith(cctx, client.CreateConfParams{IdempotencyKey: "create-" + b.id})
		ccancel()
		r.stats.record("CreateConf", err)
		if err != nil {
			t.Fatalf("%s CreateConf: %v", b.id, err)
		}
		b.watches = []string{id}
		r.owners[i] = &owner{browser: b, confID: id, stats: r.stats}
		r.browsers = append(r.browsers, b)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErrs []error
	for i := 0; i < numBrowsers-numConfs; i++ {
		b := newBrowser(fmt.Sprintf("watcher-%03d", i), i%len(urls))
		for k := 0; k < watchesPerUser; k++ {
			b.watches = append(b.watches, r.owners[(i+k*7)%numConfs].confID)
		}
		r.browsers = append(r.browsers, b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.dial(ctx, urls); err != nil {
				mu.Lock()
				dialErrs = append(dialErrs, fmt.Errorf("%s: %w", b.id, err))
				mu.Unlock()
				return
			}
			for _, id := range b.watches {
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := b.c.WatchConf(wctx, id, 0)
				wcancel()
				r.stats.record("WatchConf", err)
				if err != nil {
					mu.Lock()
					dialErrs = append(dialErrs, fmt.Errorf("%s WatchConf %s: %w", b.id, id, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, b := range r.browsers {
			if b.c != nil {
				b.c.Close()
			}
		}
	})
	if len(dialErrs) > 0 {
		t.Fatalf("%d browsers failed to connect or watch, first: %v", len(dialErrs), dialErrs[0])
	}
	t.Logf("%d browsers connected, %d conferences", len(r.browsers), len(r.owners))
	return r
}

// startLoad makes every owner invite and hang up until stop.
func (r *run) startLoad() {
	loadCtx, stop := context.WithCancel(r.ctx)
	r.stopLoad = stop
	for _, o := range r.owners {
		r.loadWG.Add(1)
		go func() { defer r.loadWG.Done(); o.loop(loadCtx, inviteEvery) }()
	}
}

func (r *run) stop() {
	r.stopLoad()
	r.loadWG.Wait()
}

func (r *run) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
	}
}

// snapshot counts every browser's disconnects and 1001 closes so far.
func (r *run) snapshot() (disconnects, goingAway map[*browser]int) {
	disconnects, goingAway = map[*browser]int{}, map[*browser]int{}
	for _, b := range r.browsers {
		b.mu.Lock()
		disconnects[b] = b.disconnects
		goingAway[b] = b.closeCodes[contract.CloseGoingAway]
		b.mu.Unlock()
	}
	return disconnects, goingAway
}

// disconnectsSince counts the disconnects since a snapshot.
func (r *run) disconnectsSince(before map[*browser]int) int {
	n := 0
	for _, b := range r.browsers {
		b.mu.Lock()
		n += b.disconnects - before[b]
		b.mu.Unlock()
	}
	return n
}

// edgeFault applies do to an edge that held expected browsers (its own
// connections gauge), then waits until every browser that lost its
// connection is connected again, and checks that there were as many of
// them as the edge held and that none took longer than reconnectBound.
// With goingAway, every one of them must have been closed with 1001.
func (r *run) edgeFault(name string, expected int, goingAway bool, do func()) fault {
	t := r.t
	before, codesBefore := r.snapshot()
	t.Logf("%s (%d browsers connected to it)", name, expected)
	do()
	f := fault{name: name}
	deadline := time.Now().Add(reconnectBound + 5*time.Second)
	var victims []*browser
	for {
		victims = victims[:0]
		back := 0
		for _, b := range r.browsers {
			b.mu.Lock()
			if b.disconnects > before[b] {
				victims = append(victims, b)
				if b.downAt.IsZero() {
					back++
				}
			}
			b.mu.Unlock()
		}
		if (len(victims) >= expected && back == len(victims)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.affected = len(victims)
	late, not1001 := 0, 0
	for _, b := range victims {
		b.mu.Lock()
		if !b.downAt.IsZero() {
			late++
		} else if d := b.reconnects[len(b.reconnects)-1]; d > f.slowest {
			f.slowest = d
		}
		if b.closeCodes[contract.CloseGoingAway] <= codesBefore[b] {
			not1001++
		}
		b.mu.Unlock()
	}
	if late > 0 {
		t.Errorf("%s: %d browsers not reconnected within %s", name, late, reconnectBound+5*time.Second)
	}
	if len(victims) != expected {
		t.Errorf("%s: %d browsers lost their connection, the edge had %d", name, len(victims), expected)
	}
	if f.slowest > reconnectBound {
		t.Errorf("%s: slowest reconnect %s > %s", name, f.slowest, reconnectBound)
	}
	if goingAway {
		f.note = fmt.Sprintf("%d/%d closed with 1001", len(victims)-not1001, len(victims))
		if not1001 > 0 {
			t.Errorf("%s: %d of %d browsers were not closed with 1001", name, not1001, len(victims))
		}
	}
	r.faults = append(r.faults, f)
	return f
}

// waitStable waits until no new event was stored for 4 s and every browser
// has the last stored seq of what it watches (60 s at most); lastSeqs reads
// the stream's last seq of every conference. It returns them.
func (r *run) waitStable(lastSeqs func() map[string]uint64) map[string]uint64 {
	last := map[string]uint64{}
	stableSince := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		now := lastSeqs()
		changed := false
		for _, o := range r.owners {
			if s := now[o.confID]; s != last[o.confID] {
				last[o.confID], changed = s, true
			}
		}
		if changed {
			stableSince = time.Now()
		}
		caughtUp := true
		for _, b := range r.browsers {
			for _, id := range b.watches {
				if b.c.LastSeq(id) < last[id] {
					caughtUp = false
				}
			}
		}
		if caughtUp && time.Since(stableSince) > 4*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return last
}

// connectionsGauge reads confapplet_edge_connections from an edge's /metrics.
func connectionsGauge(metrics io.Reader) (int, error) {
	sc := bufio.NewScanner(metrics)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "confapplet_edge_connections "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, errors.New("no confapplet_edge_connections")
}

// verdict is what the checks found, for the summary.
type verdict struct {
	sent                                               uint64
	streamGaps                                         int
	expected, received, lost, dups, disorder, gapNotes int
	stateLost, stateBehind                             int
	cbRetries, cbDropped                               int
	// cbSpooled: callbacks svc-callback kept in its spool (answered 200,
	// stored later); -1 when its log was not read.
	cbSpooled int
}

// check checks the stream (seqsOf: every stored seq of a conference, in
// stream order; seqs 1..N without gaps), every browser (every event exactly
// once, in order), the conference service (it applied every stored event),
// the RPCs (some succeeded in every phase) and the platform's side (simLog:
// the simulator's log; no callback given up).
func (r *run) check(seqsOf func(confID string) []uint64, last map[string]uint64, simLog string) verdict {
	t, ctx := r.t, r.ctx
	v := verdict{cbSpooled: -1}
	for _, o := range r.owners {
		seqs := seqsOf(o.confID)
		v.sent += uint64(len(seqs))
		for i, s := range seqs {
			if s != uint64(i+1) {
				v.streamGaps++
				t.Errorf("stream: conference %s: event %d has seq %d", o.confID, i+1, s)
				break
			}
		}
	}

	reported := 0
	for _, b := range r.browsers {
		b.mu.Lock()
		v.gapNotes += b.gaps
		for _, id := range b.watches {
			seqs := b.events[id]
			seen := map[uint64]bool{}
			var max uint64
			for _, s := range seqs {
				v.received++
				if seen[s] {
					v.dups++
					continue
				}
				if s < max {
					v.disorder++
				}
				seen[s] = true
				if s > max {
					max = s
				}
			}
			v.expected += int(last[id])
			var missing []uint64
			for s := uint64(1); s <= last[id]; s++ {
				if !seen[s] {
					v.lost++
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 && reported < 10 {
				reported++
				t.Logf("lost: %s conf %s: missing %v of 1..%d (client LastSeq %d, received %d, reconnects %d, close codes %v)",
					b.id, id, missing, last[id], b.c.LastSeq(id), len(seqs), len(b.reconnects), b.closeCodes)
			}
		}
		b.mu.Unlock()
	}
	if v.lost > 0 || v.dups > 0 || v.disorder > 0 || v.gapNotes > 0 {
		t.Errorf("deliveries: %d lost, %d duplicated, %d out of order, %d OnConfEventsLost", v.lost, v.dups, v.disorder, v.gapNotes)
	}

	for _, o := range r.owners {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		conf, err := o.c.GetConf(cctx, o.confID)
		ccancel()
		r.stats.record("GetConf", err)
		if err != nil {
			v.stateLost++
			t.Errorf("GetConf %s after the faults: %v", o.confID, err)
			continue
		}
		if conf.LastSeq != last[o.confID] {
			v.stateBehind++
			t.Errorf("conference %s: state applied seq %d, stream holds %d", o.confID, conf.LastSeq, last[o.confID])
		}
	}

	// RPCs kept working through every fault (brief errors are reported in
	// the summary, not failed).
	r.stats.mu.Lock()
	for _, p := range r.stats.phases {
		if p != "drain" && r.stats.okPh[p] == 0 {
			t.Errorf("phase %q: no RPC succeeded", p)
		}
	}
	r.stats.mu.Unlock()

	// Callbacks svc-callback refused (503, during a NATS fault) are retried
	// by the platform; one dropped after its retries would be an event lost
	// at the source.
	v.cbRetries = strings.Count(simLog, "callback failed, retrying")
	v.cbDropped = strings.Count(simLog, "callback dropped after retries")
	if v.cbDropped > 0 {
		t.Errorf("the simulator dropped %d callbacks after its retries: events lost at the source", v.cbDropped)
		shown := 0
		for _, line := range strings.Split(simLog, "\n") {
			if strings.Contains(line, "callback dropped after retries") && shown < 5 {
				shown++
				t.Log(line)
			}
		}
	}
	return v
}

// summary prints the table docs/operations.md shows; how says how the
// browsers reached the edges.
func (r *run) summary(title, how string, v verdict) {
	var outages []time.Duration
	for _, b := range r.browsers {
		b.mu.Lock()
		outages = append(outages, b.reconnects...)
		b.mu.Unlock()
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "browsers\t%d (%s)\n", len(r.browsers), how)
	fmt.Fprintf(tw, "conferences\t%d\n", len(r.owners))
	fmt.Fprintf(tw, "events sent (stored in %s)\t%d\n", contract.EventsStream, v.sent)
	fmt.Fprintf(tw, "events expected by browsers\t%d\n", v.expected)
	fmt.Fprintf(tw, "events received\t%d\n", v.received)
	fmt.Fprintf(tw, "events lost\t%d\n", v.lost)
	fmt.Fprintf(tw, "events duplicated\t%d\n", v.dups)
	fmt.Fprintf(tw, "events out of order\t%d\n", v.disorder)
	fmt.Fprintf(tw, "OnConfEventsLost\t%d\n", v.gapNotes)
	fmt.Fprintf(tw, "stream seq gaps\t%d\n", v.streamGaps)
	fmt.Fprintf(tw, "platform callbacks retried / dropped\t%d / %d\n", v.cbRetries, v.cbDropped)
	if v.cbSpooled >= 0 {
		fmt.Fprintf(tw, "callbacks spooled by svc-callback\t%d\n", v.cbSpooled)
	}
	fmt.Fprintf(tw, "reconnects\t%d\n", len(outages))
	fmt.Fprintf(tw, "reconnect p50 / p99 / max\t%s / %s / %s\n",
		percentile(outages, 0.50).Round(time.Millisecond), percentile(outages, 0.99).Round(time.Millisecond), percentile(outages, 1).Round(time.Millisecond))
	fmt.Fprintf(tw, "conference state lost / behind\t%d / %d\n", v.stateLost, v.stateBehind)
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	fmt.Fprintf(tw, "RPCs ok\t%d\n", r.stats.ok)
	tw.Flush()
	sb.WriteString("\nfaults:\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  fault\tbrowsers moved\tslowest reconnect\tnote\n")
	for _, f := range r.faults {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", f.name, f.affected, f.slowest.Round(time.Millisecond), f.note)
	}
	tw.Flush()
	sb.WriteString("\nRPCs by phase (errors by method and code):\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  phase\tok\terrors\n")
	for _, p := range r.stats.phases {
		var keys []string
		for k := range r.stats.byPh[p] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var errs []string
		for _, k := range keys {
			errs = append(errs, fmt.Sprintf("%s ×%d", k, r.stats.byPh[p][k]))
		}
		if len(errs) == 0 {
			errs = []string{"none"}
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", p, r.stats.okPh[p], strings.Join(errs, "; "))
	}
	tw.Flush()
	fmt.Fprintf(os.Stdout, "\n==== %s summary ====\n%s\n", title, sb.String())
}
