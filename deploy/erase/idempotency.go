package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// idempotency removes the idempotency records of the target: those whose
// stored reply is one of the target's calls (an invitation's call id) or
// the conference itself (CreateConf's reply), and any that holds the
// number in an error text. The rest (the key itself is a hash, and the
// request's parameters only a SHA-256) cannot be traced to a number.
// Removing one only ends its retry protection early.
func (e *eraser) idempotency(ctx context.Context, t target, rep *report) error {
	kv, err := e.bucket(ctx, contract.IdempotencyBucket)
	if kv == nil || err != nil {
		return err
	}
	ks, err := keys(ctx, kv)
	if err != nil {
		return err
	}
	for _, k := range ks {
		ent, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", k, err)
		}
		if !e.idemMatches(ent.Value(), t) {
			continue
		}
		if !e.dryRun {
			if err := kv.Purge(ctx, k); err != nil {
				return fmt.Errorf("purge %s: %w", k, err)
			}
		}
		rep.idem++
	}
	return nil
}

func (e *eraser) idemMatches(v []byte, t target) bool {
	if t.number != "" && containsNumber(v, t.number) {
		return true
	}
	var entry struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(v, &entry) != nil {
		return false
	}
	var s string
	if json.Unmarshal(entry.Result, &s) != nil {
		return false
	}
	return e.calls[s] || t.conf != "" && s == t.conf
}
