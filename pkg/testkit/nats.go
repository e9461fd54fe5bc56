package testkit

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"confapplet/pkg/natsembed"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an embedded nats-server with JetStream for one test: a random
// port and a store under t.TempDir(). The test can stop it and start it
// again on the same port and store, as an outage and a restart of NATS
// would; connections made with nats.MaxReconnects(-1) come back by
// themselves.
type NATS struct {
	t        testing.TB
	port     int
	storeDir string

	mu  sync.Mutex
	cur *natsembed.Server // nil while stopped
}

// StartNATS starts the server and registers its shutdown with t.Cleanup.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, storeDir: t.TempDir()}
	n.Start()
	return n
}

// Start starts the server (again, after Stop) on its port and store.
func (n *NATS) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil {
		n.t.Fatal("testkit: NATS already running")
	}
	s, err := natsembed.Start(natsembed.Options{Port: n.port, StoreDir: n.storeDir})
	if err != nil {
		n.t.Fatalf("embedded nats: %v", err)
	}
	if n.port == 0 {
		n.port = s.Server.Addr().(*net.TCPAddr).Port
	}
	n.cur = s
	n.t.Cleanup(s.Shutdown)
}

// Stop shuts the server down and waits for it; its store stays for Start.
func (n *NATS) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return
	}
	n.cur.Shutdown()
	n.cur = nil
}

// Restart is Stop then Start, with no time in between.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	n.Start()
}

// ClientURL is the server's nats:// URL; it stays the same across restarts.
func (n *NATS) ClientURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil {
		return n.cur.ClientURL()
	}
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
}

// Server is the running server (nil while stopped), for what only the
// server itself can tell, such as its JetStream state.
func (n *NATS) Server() *natsembed.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

// StoreDir is the JetStream store directory, kept across restarts.
func (n *NATS) StoreDir() string { return n.storeDir }

// ConnectJS is Connect and a JetStream context on the connection.
func (n *NATS) ConnectJS(t testing.TB, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := n.Connect(t, opts...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Connect dials the server and registers the connection's close with
// t.Cleanup (t may be a subtest of the one that started the server).
func (n *NATS) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to embedded nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
