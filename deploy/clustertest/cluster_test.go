//go:build cluster

package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Scale of the test (the numbers).
const (
	numBrowsers    = 200
	numConfs       = 20
	watchesPerUser = 3
	inviteEvery    = 700 * time.Millisecond // per owner
	reconnectBound = 10 * time.Second
)

// fault is one line of the summary.
type fault struct {
	name     string
	affected int           // browsers that lost their connection
	slowest  time.Duration // slowest reconnect of those
	note     string
}

func TestClusterFaults(t *testing.T) {
	st := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// Browsers go through the load balancer when there is one, else they
	// are spread over both edges and rotate over their URLs.
	urls := []string{st.Edges[0].WS(), st.Edges[1].WS()}
	if st.lbURL != "" {
		urls = []string{st.lbURL}
	}
	stats := newRPCStats()

	// --- 20 owners create a conference each; 180 watchers watch 3 each.
	owners := make([]*owner, numConfs)
	var browsers []*browser
	for i := range owners {
		b := newBrowser(fmt.Sprintf("owner-%02d", i), i%len(urls))
		if err := b.dial(ctx, urls); err != nil {
			t.Fatalf("dial %s: %v", b.id, err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := b.c.CreateConfWith(cctx, client.CreateConfParams{IdempotencyKey: "create-" + b.id})
		ccancel()
		stats.record("CreateConf", err)
		if err != nil {
			t.Fatalf("%s CreateConf: %v", b.id, err)
		}
		b.watches = []string{id}
		owners[i] = &owner{browser: b, confID: id, stats: stats}
		browsers = append(browsers, b)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErrs []error
	for i := 0; i < numBrowsers-numConfs; i++ {
		b := newBrowser(fmt.Sprintf("watcher-%03d", i), i%len(urls))
		for k := 0; k < watchesPerUser; k++ {
			b.watches = append(b.watches, owners[(i+k*7)%numConfs].confID)
		}
		browsers = append(browsers, b)
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
				stats.record("WatchConf", err)
				if err != nil {
					mu.Lock()
					dialErrs = append(dialErrs, fmt.Errorf("%s WatchConf %s: %w", b.id, id, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(dialErrs) > 0 {
		t.Fatalf("%d browsers failed to connect or watch, first: %v", len(dialErrs), dialErrs[0])
	}
	defer func() {
		for _, b := range browsers {
			b.c.Close()
		}
	}()
	t.Logf("%d browsers connected, %d conferences", len(browsers), len(owners))

	// --- Load: every owner invites and hangs up until loadCtx ends.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	for _, o := range owners {
		loadWG.Add(1)
		go func() { defer loadWG.Done(); o.loop(loadCtx, inviteEvery) }()
	}
	sleep := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	sleep(8 * time.Second)

	var faults []fault
	// snapshot counts every browser's disconnects so far.
	snapshot := func() map[*browser]int {
		m := map[*browser]int{}
		for _, b := range browsers {
			b.mu.Lock()
			m[b] = b.disconnects
			b.mu.Unlock()
		}
		return m
	}
	// edgeFault applies do to edge i, then waits until every browser that
	// lost its connection is connected again, and checks that there were as
	// many of them as the edge reported connections (its own gauge) and that
	// none took longer than reconnectBound. It returns the victims.
	edgeFault := func(name string, i int, do func()) (fault, []*browser) {
		expected, err := edgeConnections(st.Edges[i].OpsURL())
		if err != nil {
			t.Errorf("%s: reading the edge's connections gauge: %v", name, err)
		}
		before := snapshot()
		t.Logf("%s (%d browsers connected to it)", name, expected)
		do()
		f := fault{name: name}
		deadline := time.Now().Add(reconnectBound + 5*time.Second)
		var victims []*browser
		for {
			victims = victims[:0]
			back := 0
			for _, b := range browsers {
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
		late := 0
		for _, b := range victims {
			b.mu.Lock()
			if !b.downAt.IsZero() {
				late++
			} else if d := b.reconnects[len(b.reconnects)-1]; d > f.slowest {
				f.slowest = d
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
		return f, victims
	}

	// --- Fault 1: kill -9 edge 1: its browsers reconnect to edge 2.
	stats.setPhase("kill -9 edge")
	f, _ := edgeFault("kill -9 "+st.Edges[0].Name, 0, st.Edges[0].Kill)
	faults = append(faults, f)
	if err := st.Edges[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, st.Edges[0], 30*time.Second)
	st.waitLB(t)
	sleep(5 * time.Second)

	// --- Fault 2: kill -9 the NATS node that leads the events stream,
	// restart it after 10 s.
	stats.setPhase("kill -9 nats")
	node := st.nats.nodes[1]
	if leader := streamLeader(ctx, st.nats.urls(), contract.EventsStream); leader != "" {
		for _, n := range st.nats.nodes {
			if n.Name == leader {
				node = n
			}
		}
	}
	t.Logf("fault 2: kill -9 %s (leader of %s)", node.Name, contract.EventsStream)
	node.Kill()
	sleep(10 * time.Second)
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	if err := testkit.WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", node.httpPort), 60*time.Second, node.Proc); err != nil {
		t.Errorf("%s did not come back: %v", node.Name, err)
	}
	faults = append(faults, fault{name: "kill -9 " + node.Name, note: "the events stream's leader; down 10 s, restarted"})
	sleep(5 * time.Second)

	// --- Fault 3: kill -9 one conference instance mid-load.
	stats.setPhase("kill -9 conference")
	t.Logf("fault 3: kill -9 %s", st.Conferences[0].Name)
	st.Conferences[0].Kill()
	sleep(10 * time.Second)
	if err := st.Conferences[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, st.Conferences[0], 30*time.Second)
	faults = append(faults, fault{name: "kill -9 " + st.Conferences[0].Name, note: "down 10 s, restarted"})
	sleep(3 * time.Second)

	// --- Fault 4: SIGTERM edge 2: browsers get 1001 and move to edge 1.
	stats.setPhase("SIGTERM edge")
	codesBefore := map[*browser]int{}
	for _, b := range browsers {
		b.mu.Lock()
		codesBefore[b] = b.closeCodes[contract.CloseGoingAway]
		b.mu.Unlock()
	}
	f, victims := edgeFault("SIGTERM "+st.Edges[1].Name, 1, func() { _ = st.Edges[1].Signal(syscall.SIGTERM) })
	not1001 := 0
	for _, b := range victims {
		b.mu.Lock()
		if b.closeCodes[contract.CloseGoingAway] <= codesBefore[b] {
			not1001++
		}
		b.mu.Unlock()
	}
	f.note = fmt.Sprintf("%d/%d closed with 1001", len(victims)-not1001, len(victims))
	if not1001 > 0 {
		t.Errorf("SIGTERM edge: %d of %d browsers were not closed with 1001", not1001, len(victims))
	}
	faults = append(faults, f)
	if !st.Edges[1].Wait(20 * time.Second) {
		t.Errorf("%s still running 20 s after SIGTERM", st.Edges[1].Name)
	}
	sleep(5 * time.Second)

	// --- Quiesce: stop the load, let the last callbacks arrive.
	stats.setPhase("drain")
	stopLoad()
	loadWG.Wait()

	nc, err := nats.Connect(st.nats.urls(), nats.Name("clustertest"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatalf("events stream: %v", err)
	}
	lastSeq := func(confID string) uint64 {
		m, err := stream.GetLastMsgForSubject(ctx, contract.EventsSubject(confID))
		if err != nil {
			return 0
		}
		var e contract.Event
		if json.Unmarshal(m.Data, &e) != nil {
			return 0
		}
		return e.Seq
	}
	// Stable = no new event for 4 s and every browser has the last seq.
	last := map[string]uint64{}
	stableSince := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		changed := false
		for _, o := range owners {
			if s := lastSeq(o.confID); s != last[o.confID] {
				last[o.confID], changed = s, true
			}
		}
		if changed {
			stableSince = time.Now()
		}
		caughtUp := true
		for _, b := range browsers {
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

	// --- Check the stream itself: per conference, seqs 1..N without gaps.
	streamGaps := 0
	var sent uint64
	for _, o := range owners {
		seqs := readSeqs(ctx, t, js, o.confID)
		sent += uint64(len(seqs))
		for i, s := range seqs {
			if s != uint64(i+1) {
				streamGaps++
				t.Errorf("stream: conference %s: event %d has seq %d", o.confID, i+1, s)
				break
			}
		}
	}

	// --- Check every browser: every event exactly once, in order.
	var expected, received, lost, dups, disorder, gapNotes int
	reported := 0
	for _, b := range browsers {
		b.mu.Lock()
		gapNotes += b.gaps
		for _, id := range b.watches {
			seqs := b.events[id]
			seen := map[uint64]bool{}
			var max uint64
			for _, s := range seqs {
				received++
				if seen[s] {
					dups++
					continue
				}
				if s < max {
					disorder++
				}
				seen[s] = true
				if s > max {
					max = s
				}
			}
			expected += int(last[id])
			var missing []uint64
			for s := uint64(1); s <= last[id]; s++ {
				if !seen[s] {
					lost++
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
	if lost > 0 || dups > 0 || disorder > 0 || gapNotes > 0 {
		t.Errorf("deliveries: %d lost, %d duplicated, %d out of order, %d OnConfEventsLost", lost, dups, disorder, gapNotes)
	}

	// --- Conference state survived: every conference answers, and the
	// service applied every stored event.
	stateLost, stateBehind := 0, 0
	for _, o := range owners {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		conf, err := o.c.GetConf(cctx, o.confID)
		ccancel()
		stats.record("GetConf", err)
		if err != nil {
			stateLost++
			t.Errorf("GetConf %s after the faults: %v", o.confID, err)
			continue
		}
		if conf.LastSeq != last[o.confID] {
			stateBehind++
			t.Errorf("conference %s: state applied seq %d, stream holds %d", o.confID, conf.LastSeq, last[o.confID])
		}
	}

	// --- RPCs kept working through every fault (brief errors are reported
	// in the summary, not failed).
	stats.mu.Lock()
	for _, p := range stats.phases {
		if p != "drain" && stats.okPh[p] == 0 {
			t.Errorf("phase %q: no RPC succeeded", p)
		}
	}
	stats.mu.Unlock()

	// --- The platform's side: callbacks svc-callback refused (503, during a
	// NATS fault) are retried by the platform; one dropped after its retries
	// would be an event lost at the source.
	simLog, _ := os.ReadFile(st.Sim.Log)
	cbRetries := strings.Count(string(simLog), "callback failed, retrying")
	cbDropped := strings.Count(string(simLog), "callback dropped after retries")
	if cbDropped > 0 {
		t.Errorf("the simulator dropped %d callbacks after its retries: events lost at the source", cbDropped)
	}

	// --- Summary.
	var outages []time.Duration
	for _, b := range browsers {
		b.mu.Lock()
		outages = append(outages, b.reconnects...)
		b.mu.Unlock()
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	if st.lbURL != "" {
		fmt.Fprintf(tw, "browsers\t%d (through HAProxy, deploy/lb/haproxy.cfg, to 2 edges)\n", len(browsers))
	} else {
		fmt.Fprintf(tw, "browsers\t%d (spread over 2 edges, rotating over both URLs)\n", len(browsers))
	}
	fmt.Fprintf(tw, "conferences\t%d\n", len(owners))
	fmt.Fprintf(tw, "events sent (stored in %s)\t%d\n", contract.EventsStream, sent)
	fmt.Fprintf(tw, "events expected by browsers\t%d\n", expected)
	fmt.Fprintf(tw, "events received\t%d\n", received)
	fmt.Fprintf(tw, "events lost\t%d\n", lost)
	fmt.Fprintf(tw, "events duplicated\t%d\n", dups)
	fmt.Fprintf(tw, "events out of order\t%d\n", disorder)
	fmt.Fprintf(tw, "OnConfEventsLost\t%d\n", gapNotes)
	fmt.Fprintf(tw, "stream seq gaps\t%d\n", streamGaps)
	fmt.Fprintf(tw, "platform callbacks retried / dropped\t%d / %d\n", cbRetries, cbDropped)
	fmt.Fprintf(tw, "reconnects\t%d\n", len(outages))
	fmt.Fprintf(tw, "reconnect p50 / p99 / max\t%s / %s / %s\n",
		percentile(outages, 0.50).Round(time.Millisecond), percentile(outages, 0.99).Round(time.Millisecond), percentile(outages, 1).Round(time.Millisecond))
	fmt.Fprintf(tw, "conference state lost / behind\t%d / %d\n", stateLost, stateBehind)
	stats.mu.Lock()
	fmt.Fprintf(tw, "RPCs ok\t%d\n", stats.ok)
	tw.Flush()
	sb.WriteString("\nfaults:\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  fault\tbrowsers moved\tslowest reconnect\tnote\n")
	for _, f := range faults {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", f.name, f.affected, f.slowest.Round(time.Millisecond), f.note)
	}
	tw.Flush()
	sb.WriteString("\nRPCs by phase (errors by method and code):\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  phase\tok\terrors\n")
	for _, p := range stats.phases {
		var keys []string
		for k := range stats.byPh[p] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var errs []string
		for _, k := range keys {
			errs = append(errs, fmt.Sprintf("%s ×%d", k, stats.byPh[p][k]))
		}
		if len(errs) == 0 {
			errs = []string{"none"}
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", p, stats.okPh[p], strings.Join(errs, "; "))
	}
	stats.mu.Unlock()
	tw.Flush()
	fmt.Fprintf(os.Stdout, "\n==== cluster fault test summary ====\n%s\n", sb.String())
}

// edgeConnections reads confapplet_edge_connections from an edge's /metrics
// (base is its ops listener).
func edgeConnections(base string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "confapplet_edge_connections "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("%s/metrics has no confapplet_edge_connections", base)
}

// streamLeader returns the server name leading stream, "" if unknown.
func streamLeader(ctx context.Context, urls, stream string) string {
	nc, err := nats.Connect(urls, nats.Name("clustertest-probe"))
	if err != nil {
		return ""
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return ""
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// readSeqs returns the seq of every stored event of confID, in stream order.
func readSeqs(ctx context.Context, t *testing.T, js jetstream.JetStream, confID string) []uint64 {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.EventsSubject(confID)},
	})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	n := int(info.NumPending)
	var out []uint64
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var e contract.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				t.Errorf("stored event of %s: %v", confID, err)
				continue
			}
			out = append(out, e.Seq)
		}
		if got == 0 {
			break
		}
	}
	return out
}
