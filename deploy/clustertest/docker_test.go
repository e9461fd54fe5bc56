//go:build docker

package clustertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
)

// TestComposeFaults is the cluster fault test on the containers of
// docker-compose.yml: the same browsers, load and checks as
// TestClusterFaults, through the compose load balancer, with docker kill of
// an edge, of the NATS node leading the events stream and of a conference
// instance, a network partition of a NATS node, a scale-up of the edges
// while browsers are connected, and a rolling restart of every edge.
func TestComposeFaults(t *testing.T) {
	c := upCompose(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := connect(ctx, t, []string{fmt.Sprintf("ws://127.0.0.1:%d", c.LBPort)})
	r.startLoad()
	r.sleep(8 * time.Second)
	edges := c.Replicas("svc-edge")
	if len(edges) != 2 {
		t.Fatalf("edges %v, want 2", edges)
	}

	// --- docker kill an edge: its browsers reconnect through the LB.
	r.stats.setPhase("kill edge")
	r.edgeFault("docker kill "+edges[0], c.edgeGauge(edges[0]), false, func() { c.Must("kill", edges[0]) })
	c.Must("start", edges[0])
	c.WaitHealthy(edges[0], 60*time.Second)
	c.EdgesUp(2, 30*time.Second)
	r.sleep(5 * time.Second)

	// killFor10s kills a container and starts it again 10 s later.
	killFor10s := func(name, note string) {
		t.Logf("docker kill %s", name)
		c.Must("kill", name)
		r.sleep(10 * time.Second)
		c.Must("start", name)
		c.WaitHealthy(name, 90*time.Second)
		r.faults = append(r.faults, fault{name: "docker kill " + name, note: note + "down 10 s, restarted"})
	}

	// --- docker kill the NATS node leading the events stream.
	r.stats.setPhase("kill nats")
	leader := c.streamLeader(contract.EventsStream)
	if leader == "" {
		t.Errorf("no leader of %s found; killing nats-2", contract.EventsStream)
		leader = "nats-2"
	}
	killFor10s(c.Container(leader, 1), "the events stream's leader; ")
	r.sleep(5 * time.Second)

	// --- docker kill a conference instance.
	r.stats.setPhase("kill conference")
	killFor10s(c.Container("svc-conference", 1), "")
	r.sleep(3 * time.Second)

	// --- Partition the NATS node now leading the events stream from the
	// network for 15 s, then connect it again under its name.
	r.stats.setPhase("partition nats")
	leader = c.streamLeader(contract.EventsStream)
	if leader == "" {
		leader = "nats-3"
	}
	node := c.Container(leader, 1)
	t.Logf("docker network disconnect %s (leader of %s)", node, contract.EventsStream)
	before, _ := r.snapshot()
	c.Must("network", "disconnect", c.Network(), node)
	r.sleep(15 * time.Second)
	c.Must("network", "connect", "--alias", leader, c.Network(), node)
	c.WaitHealthy(node, 90*time.Second)
	r.faults = append(r.faults, fault{name: "partition " + node, affected: r.disconnectsSince(before),
		note: "the events stream's leader; cut off 15 s, reconnected"})
	r.sleep(5 * time.Second)

	// --- Scale the edges from 2 to 4 while every browser is connected:
	// nobody is disconnected, and the load balancer finds the new edges.
	r.stats.setPhase("scale-up")
	before, _ = r.snapshot()
	start := time.Now()
	if out, err := c.Compose("up", "--detach", "--wait", "--no-recreate", "--scale", "svc-edge=4"); err != nil {
		t.Fatalf("compose up --scale svc-edge=4: %v\n%s", err, out)
	}
	c.EdgesUp(4, 30*time.Second)
	moved := r.disconnectsSince(before)
	if moved != 0 {
		t.Errorf("scale-up: %d browsers lost their connection", moved)
	}
	r.faults = append(r.faults, fault{name: "compose up --scale svc-edge=4", affected: moved,
		note: fmt.Sprintf("4 edges up in the LB after %s", time.Since(start).Round(time.Second))})
	r.sleep(3 * time.Second)

	// --- Rolling restart of every edge: each one's browsers are closed
	// with 1001 and move to the others; the next waits until it is back.
	r.stats.setPhase("rolling restart")
	edges = c.Replicas("svc-edge")
	if len(edges) != 4 {
		t.Errorf("edges after the scale-up: %v, want 4", edges)
	}
	for _, e := range edges {
		r.edgeFault("docker restart "+e, c.edgeGauge(e), true, func() { c.Must("stop", "--time", "30", e) })
		c.Must("start", e)
		c.WaitHealthy(e, 60*time.Second)
		c.EdgesUp(len(edges), 30*time.Second)
		r.sleep(2 * time.Second)
	}

	// --- Quiesce: stop the load, let the last callbacks arrive.
	r.stats.setPhase("drain")
	r.stop()
	var ids []string
	for _, o := range r.owners {
		ids = append(ids, o.confID)
	}
	var seqs map[string][]uint64
	lastSeen := map[string]uint64{}
	last := r.waitStable(func() map[string]uint64 {
		s, err := c.streamSeqs(ctx, ids)
		if err != nil {
			t.Logf("reading the stream: %v", err)
			return lastSeen
		}
		seqs, lastSeen = s, map[string]uint64{}
		for id, ss := range s {
			if len(ss) > 0 {
				lastSeen[id] = ss[len(ss)-1]
			}
		}
		return lastSeen
	})
	if seqs == nil {
		t.Fatal("the events stream could not be read")
	}
	c.streamStates(contract.EventsStream)
	simLog, err := c.Compose("logs", "--no-color", "ytxsim")
	if err != nil {
		t.Errorf("simulator's log: %v", err)
	}
	v := r.check(func(confID string) []uint64 { return seqs[confID] }, last, simLog)
	if cbLog, err := c.Compose("logs", "--no-color", "svc-callback"); err == nil {
		v.cbSpooled = strings.Count(cbLog, "callback spooled")
	}
	r.summary("container fault test", "through the compose load balancer (HAProxy) to 2, then 4 edges", v)
}
