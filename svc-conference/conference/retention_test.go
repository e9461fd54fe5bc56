package conference

import (
	"context"
	"errors"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStateMaxAge: with short retention, a conference's record (its members'
// numbers), its owner key and its idempotency record are gone from the KV
// once they are older than the configured ages, and the service's view
// and its decode cache forget the conference too (GetConf: conf_not_found), while a conference
// created afterwards is served as usual.
func TestStateMaxAge(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(func(c *Config) { c.StateMaxAge, c.IdempotencyTTL = 2*time.Second, 2*time.Second })
	confID := e.create("alice", 5)
	e.must(contract.MethodInviteJoinConf, "alice", contract.InviteJoinConfRequest{ConfID: confID, Number: "13800138005", IdempotencyKey: "k-1"})
	if c := e.getConf("alice", confID); len(c.Members) != 1 {
		t.Fatalf("members %+v", c.Members)
	}

	ctx := context.Background()
	// A read through the store leaves the record decoded in its cache.
	if _, _, err := svc.st.get(ctx, confID); err != nil {
		t.Fatal(err)
	}
	kvs := map[string]jetstream.KeyValue{}
	for _, b := range []string{contract.ConfBucket, contract.OwnersBucket, contract.IdempotencyBucket} {
		kv, err := e.js.KeyValue(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if n := keyCount(t, kv); n == 0 {
			t.Fatalf("bucket %s is empty right after the invite", b)
		}
		kvs[b] = kv
	}
	testkit.Eventually(t, "every bucket empty after its max age", 15*time.Second, func() bool {
		for _, kv := range kvs {
			if keyCount(t, kv) != 0 {
				return false
			}
		}
		return true
	})
	if _, err := kvs[contract.ConfBucket].Get(ctx, confID); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("record of %s: %v, want not found", confID, err)
	}
	// Before any read (a read of a missing record clears the cache too).
	testkit.Eventually(t, "the store's decode cache to forget the expired record", 5*time.Second, func() bool {
		svc.st.cmu.Lock()
		defer svc.st.cmu.Unlock()
		_, cached := svc.st.cache[confID]
		return !cached
	})
	testkit.Eventually(t, "the view forgets the expired conference", 5*time.Second, func() bool {
		_, cerr := e.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})
	var owned []string
	mustJSON(t, e.must(contract.MethodListOwned, "alice", nil), &owned)
	if len(owned) != 0 {
		t.Fatalf("ListOwned after expiry: %v", owned)
	}

	// Everyone else goes on: a new conference works.
	other := e.create("alice", 5)
	e.invite("alice", other, "13912345678")
	if c := e.getConf("alice", other); len(c.Members) != 1 {
		t.Fatalf("new conference members %+v", c.Members)
	}
}

// keyCount counts the live keys of kv (expiry markers and deletes
// excluded); -1 when the listing does not finish within 2 s. A listing
// whose keys expire while it runs may never be told it has them all: the
// bound keeps that from hanging the test (callers poll again).
func keyCount(t *testing.T, kv jetstream.KeyValue) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return -1
	}
	defer func() { _ = lister.Stop() }()
	n := 0
	for {
		select {
		case _, ok := <-lister.Keys():
			if !ok {
				return n
			}
			n++
		case <-ctx.Done():
			return -1
		}
	}
}

// TestStateMaxAgeOnExistingBuckets: buckets created before retention
// existed (no TTL, no markers) are updated in place when the service
// starts, keeping their records.
func TestStateMaxAgeOnExistingBuckets(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	for _, b := range []string{contract.ConfBucket, contract.OwnersBucket} {
		kv, err := e.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, Storage: jetstream.FileStorage, History: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "old", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	e.start(func(c *Config) { c.StateMaxAge = time.Hour })
	for _, b := range []string{contract.ConfBucket, contract.OwnersBucket} {
		kv, err := e.js.KeyValue(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != time.Hour {
			t.Errorf("bucket %s: TTL %v, want 1h", b, st.TTL())
		}
		if _, err := kv.Get(ctx, "old"); err != nil {
			t.Errorf("bucket %s lost its record: %v", b, err)
		}
	}
}
