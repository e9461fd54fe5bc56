//go:build cluster

package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"confapplet/deploy/clustertest/streamseqs"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
	r := connect(ctx, t, urls)
	r.startLoad()
	r.sleep(8 * time.Second)

	gauge := func(i int) int {
		n, err := edgeConnections(st.Edges[i].OpsURL())
		if err != nil {
			t.Errorf("%s: reading the edge's connections gauge: %v", st.Edges[i].Name, err)
		}
		return n
	}

	// --- Fault 1: kill -9 edge 1: its browsers reconnect to edge 2.
	r.stats.setPhase("kill -9 edge")
	r.edgeFault("kill -9 "+st.Edges[0].Name, gauge(0), false, st.Edges[0].Kill)
	if err := st.Edges[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, st.Edges[0], 30*time.Second)
	st.waitLB(t)
	r.sleep(5 * time.Second)

	// --- Fault 2: kill -9 the NATS node that leads the events stream,
	// restart it after 10 s.
	r.stats.setPhase("kill -9 nats")
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
	r.sleep(10 * time.Second)
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	if err := testkit.WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", node.httpPort), 60*time.Second, node.Proc); err != nil {
		t.Errorf("%s did not come back: %v", node.Name, err)
	}
	r.faults = append(r.faults, fault{name: "kill -9 " + node.Name, note: "the events stream's leader; down 10 s, restarted"})
	r.sleep(5 * time.Second)

	// --- Fault 3: kill -9 one conference instance mid-load.
	r.stats.setPhase("kill -9 conference")
	t.Logf("fault 3: kill -9 %s", st.Conferences[0].Name)
	st.Conferences[0].Kill()
	r.sleep(10 * time.Second)
	if err := st.Conferences[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, st.Conferences[0], 30*time.Second)
	r.faults = append(r.faults, fault{name: "kill -9 " + st.Conferences[0].Name, note: "down 10 s, restarted"})
	r.sleep(3 * time.Second)

	// --- Fault 4: SIGTERM edge 2: browsers get 1001 and move to edge 1.
	r.stats.setPhase("SIGTERM edge")
	r.edgeFault("SIGTERM "+st.Edges[1].Name, gauge(1), true, func() { _ = st.Edges[1].Signal(syscall.SIGTERM) })
	if !st.Edges[1].Wait(20 * time.Second) {
		t.Errorf("%s still running 20 s after SIGTERM", st.Edges[1].Name)
	}
	r.sleep(5 * time.Second)

	// --- Quiesce: stop the load, let the last callbacks arrive.
	r.stats.setPhase("drain")
	r.stop()

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
	last := r.waitStable(func() map[string]uint64 {
		m := map[string]uint64{}
		for _, o := range r.owners {
			msg, err := stream.GetLastMsgForSubject(ctx, contract.EventsSubject(o.confID))
			if err != nil {
				continue
			}
			var e contract.Event
			if json.Unmarshal(msg.Data, &e) == nil {
				m[o.confID] = e.Seq
			}
		}
		return m
	})
	simLog, _ := os.ReadFile(st.Sim.Log)
	v := r.check(func(confID string) []uint64 { return readSeqs(ctx, t, js, confID) }, last, string(simLog))
	how := "spread over 2 edges, rotating over both URLs"
	if st.lbURL != "" {
		how = "through HAProxy, deploy/lb/haproxy.cfg, to 2 edges"
	}
	r.summary("cluster fault test", how, v)
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
	n, err := connectionsGauge(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s/metrics: %w", base, err)
	}
	return n, nil
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
	seqs, err := streamseqs.Read(ctx, js, confID)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}
