package conference

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestStartTogetherOnFreshCluster (item 1): two instances starting at the
// same moment on a fresh 3-node cluster, creating the same R3 buckets,
// stream and consumer, both come up and serve.
func TestStartTogetherOnFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	cluster := testkit.StartNATSCluster(t, 3)
	e := newEnv(t, envOpts{}) // the simulator (and a single server nobody uses)
	url := cluster.ClientURL()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			cfg := e.config()
			cfg.NATSURL = url
			cfg.KVReplicas = 3
			cfg.StartTimeout = 50 * time.Second
			cfg.InviteRatePerSec, cfg.InviteBurst = 10, 10
			cfg.InstanceName = fmt.Sprintf("conf-%d", i+1)
			nc, err := nats.Connect(url, nats.MaxReconnects(-1))
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(nc.Close)
			p, err := NewYTX(cfg, nil)
			if err != nil {
				errs[i] = err
				return
			}
			svc, err := New(cfg, nc, p, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(svc.Stop)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i+1, err)
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range []string{contract.ConfBucket, contract.OwnersBucket, contract.IdempotencyBucket, RateLimitBucket} {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
		st, err := kv.Status(ctx)
		if err != nil || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
			t.Fatalf("bucket %s: %v", b, err)
		}
	}
	e.nc = nc
	confID := e.create("alice", 5)
	e.invite("alice", confID, "13812345678")
}
