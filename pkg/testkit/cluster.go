package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSCluster is an n-node nats-server cluster with JetStream in the test
// process, for what a single server refuses: streams and buckets with more
// than one replica.
type NATSCluster struct {
	Servers []*server.Server
}

// StartNATSCluster starts the nodes on loopback, each with a store of its
// own, and waits until every node's JetStream is current and the cluster
// has a meta leader. Their shutdown is registered with t.Cleanup.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ports[i] = FreePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	c := &NATSCluster{}
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "confapplet", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatalf("nats node %d: %v", i+1, err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		c.Servers = append(c.Servers, s)
	}
	for i, s := range c.Servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats node %d not ready", i+1)
		}
	}
	Eventually(t, "the JetStream cluster to form with a meta leader that sees every peer", 20*time.Second, func() bool {
		var leader *server.Server
		for _, s := range c.Servers {
			if !s.JetStreamEnabled() || !s.JetStreamIsCurrent() {
				return false
			}
			if s.JetStreamIsLeader() {
				leader = s
			}
		}
		// A leader that has not yet heard from every peer refuses an R3
		// stream ("no suitable peers for placement").
		return leader != nil && peersOnline(leader) == n-1
	})
	return c
}

// ClientURL is every node's client URL, comma-separated, as NATS_URL takes
// them.
func (c *NATSCluster) ClientURL() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// peersOnline is how many other peers the meta leader s sees current and
// online.
func peersOnline(s *server.Server) int {
	info, err := s.Jsz(&server.JSzOptions{})
	if err != nil || info.Meta == nil {
		return 0
	}
	n := 0
	for _, p := range info.Meta.Replicas {
		if p.Current && !p.Offline {
			n++
		}
	}
	return n
}
