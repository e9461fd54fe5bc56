package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// records erases the target from the conference records: a conference's
// record is purged (the purge marker tells every svc-conference view to
// forget it); a number is removed from every member that had it, by a
// revision-checked rewrite, so a conference still running keeps working
// for its other members.
func (e *eraser) records(ctx context.Context, t target, rep *report) error {
	kv, err := e.bucket(ctx, contract.ConfBucket)
	if kv == nil || err != nil {
		return err
	}
	if t.conf != "" {
		ent, err := kv.Get(ctx, t.conf)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", t.conf, err)
		}
		if _, ids, err := eraseMembers(ent.Value(), func(string) bool { return true }); err == nil {
			for _, id := range ids {
				e.calls[id] = true
			}
		}
		if !e.dryRun {
			if err := kv.Purge(ctx, t.conf); err != nil {
				return fmt.Errorf("purge %s: %w", t.conf, err)
			}
		}
		rep.records[t.conf] = -1
		return nil
	}
	ks, err := keys(ctx, kv)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if err := e.rewrite(ctx, kv, k, t, rep); err != nil {
			return err
		}
	}
	return nil
}

// rewrite removes the target's number from record k, retrying when
// svc-conference wrote the record in between.
func (e *eraser) rewrite(ctx context.Context, kv jetstream.KeyValue, k string, t target, rep *report) error {
	var err error
	for range 5 {
		var ent jetstream.KeyValueEntry
		ent, err = kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", k, err)
		}
		b, ids, derr := eraseMembers(ent.Value(), t.matchNumber)
		if derr != nil {
			return fmt.Errorf("record %s: %w", k, derr)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			e.calls[id] = true
		}
		if e.dryRun {
			rep.records[k] = len(ids)
			return nil
		}
		if _, err = kv.Update(ctx, k, b, ent.Revision()); err == nil {
			rep.records[k] = len(ids)
			return nil
		}
	}
	return fmt.Errorf("rewrite %s: %w", k, err)
}

// eraseMembers empties the number of every member of the record b whose
// number match accepts, and returns the record rewritten and those
// members' call ids. Every other field is kept byte for byte.
func eraseMembers(b []byte, match func(string) bool) ([]byte, []string, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, err
	}
	var members map[string]map[string]json.RawMessage
	if raw, ok := rec["members"]; ok {
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, nil, err
		}
	}
	var ids []string
	for id, m := range members {
		var n string
		if err := json.Unmarshal(m["number"], &n); err != nil || !match(n) {
			continue
		}
		m["number"] = json.RawMessage(`""`)
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return b, nil, nil
	}
	mb, err := json.Marshal(members)
	if err != nil {
		return nil, nil, err
	}
	rec["members"] = mb
	out, err := json.Marshal(rec)
	return out, ids, err
}
