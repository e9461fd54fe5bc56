package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNATSRestartKeepsJetStreamState(t *testing.T) {
	s := StartNATS(t)
	url := s.ClientURL()
	nc, js := s.ConnectJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	nc.Close()

	s.Restart()
	if s.ClientURL() != url {
		t.Fatalf("restart moved from %s to %s", url, s.ClientURL())
	}
	_, js2 := s.ConnectJS(t)
	kv2, err := js2.KeyValue(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv2.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("after restart: %v %v", e, err)
	}
}

// While stopped the server refuses clients, and Start brings it back at
// the same URL; a reconnecting client finds it by itself.
func TestNATSStopStart(t *testing.T) {
	s := StartNATS(t)
	nc := s.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	s.Stop()
	if s.Server() != nil {
		t.Fatal("Server() while stopped")
	}
	if _, err := nats.Connect(s.ClientURL(), nats.Timeout(200*time.Millisecond)); err == nil {
		t.Fatal("a stopped server accepted a client")
	}
	s.Start()
	Eventually(t, "the client to reconnect", 10*time.Second, nc.IsConnected)
}

// A three-node cluster takes a stream with three replicas, which a single
// server refuses.
func TestNATSClusterTakesR3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := StartNATSCluster(t, 3)
	nc, err := nats.Connect(c.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3}); err != nil {
		t.Fatalf("R3 stream on the cluster: %v", err)
	}
}
