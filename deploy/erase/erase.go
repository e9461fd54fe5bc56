package main

import (
	"context"
	"errors"
	"fmt"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// eraser removes a target from every store, in an order that collects the
// call ids of the target's calls (from the events and the records) before
// the idempotency records, whose replies are call ids, are searched.
type eraser struct {
	js     jetstream.JetStream
	dryRun bool
	calls  map[string]bool // call ids of the target's calls
}

func (e *eraser) erase(ctx context.Context, t target) (*report, error) {
	rep := newReport()
	e.calls = map[string]bool{}
	steps := []struct {
		name string
		run  func(context.Context, target, *report) error
	}{
		{"events", e.events},
		{"raw callbacks", e.raw},
		{"conference records", e.records},
		{"call records", e.finished},
		{"owner keys", e.owners},
		{"idempotency records", e.idempotency},
	}
	for _, s := range steps {
		if err := s.run(ctx, t, rep); err != nil {
			return rep, fmt.Errorf("%s: %w (what was removed before is reported; running the command again finishes the job)", s.name, err)
		}
	}
	return rep, nil
}

// bucket opens a KV bucket; nil without error when it does not exist (no
// service created it yet: nothing to erase).
func (e *eraser) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	kv, err := e.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return kv, nil
}

// keys lists kv's keys matching filters (all without).
func keys(ctx context.Context, kv jetstream.KeyValue, filters ...string) ([]string, error) {
	var (
		l   jetstream.KeyLister
		err error
	)
	if len(filters) > 0 {
		l, err = kv.ListKeysFiltered(ctx, filters...)
	} else {
		l, err = kv.ListKeys(ctx)
	}
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys of %s: %w", kv.Bucket(), err)
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// owners removes the owner keys of an erased conference ("<client>.<confid>").
// They are purged from the bucket's stream, as svc-conference removes them,
// so ListOwned (which lists the stream's subjects) does not see a marker.
func (e *eraser) owners(ctx context.Context, t target, rep *report) error {
	if t.conf == "" {
		return nil // owner keys hold client and conference ids, no number
	}
	kv, err := e.bucket(ctx, contract.OwnersBucket)
	if kv == nil || err != nil {
		return err
	}
	ks, err := keys(ctx, kv, "*."+t.conf)
	if err != nil {
		return err
	}
	if err := e.purgeKeys(ctx, contract.OwnersBucket, ks); err != nil {
		return err
	}
	rep.owners += len(ks)
	return nil
}

// purgeKeys purges the subjects of keys ks from bucket's stream (nothing in
// a dry run): no delete marker stays behind to be listed or to name them.
func (e *eraser) purgeKeys(ctx context.Context, bucket string, ks []string) error {
	if e.dryRun || len(ks) == 0 {
		return nil
	}
	st, err := e.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucket+"."+k)); err != nil {
			return fmt.Errorf("purge %s key %s: %w", bucket, k, err)
		}
	}
	return nil
}
