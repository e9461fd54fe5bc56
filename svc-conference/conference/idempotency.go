package conference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// Idempotency keys (BRIEF decision 13). A CreateConf or InviteJoinConf that
// carries idempotency_key is executed at most once per (client, method,
// key) while the key lives (Config.IdempotencyTTL, the bucket's TTL):
//
//  1. The first request reserves the key with kv.Create (an "pending" entry
//     holding the hash of its params) before it dials anything.
//  2. When it ends it stores the reply (kv.Update on the reservation's
//     revision): the result, or an error that a retry must see again
//     (an ambiguous platform failure: the platform may have dialled). A
//     definite failure (a refusal, a platform statusCode) deletes the
//     reservation so a retry runs again.
//  3. A request finding the key with other params gets idempotency_conflict;
//     with the same params it returns the stored reply, or, while the first
//     is still in flight, waits for it (watching the key) until its own
//     deadline. A reservation older than Config.IdempotencyStale whose
//     holder never finished is taken over.
type idemEntry struct {
	Params   string          `json:"params"` // hex sha256 of the canonical params
	Done     bool            `json:"done"`
	Started  time.Time       `json:"started"`
	Result   json.RawMessage `json:"result,omitempty"`
	ErrCode  contract.Code   `json:"err_code,omitempty"`
	ErrMsg   string          `json:"err_msg,omitempty"`
	ErrData  json.RawMessage `json:"err_data,omitempty"`
	Instance string          `json:"instance,omitempty"`
}

type idempotency struct {
	kv       jetstream.KeyValue
	stale    time.Duration
	instance string
	now      func() time.Time
	hits     func(outcome string)
}

// idemKey is the bucket key of (clientID, method, key).
func idemKey(clientID, method, key string) string {
	h := sha256.Sum256([]byte(clientID + "\x00" + method + "\x00" + key))
	return hex.EncodeToString(h[:])
}

func paramsHash(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// reservation is a key this request holds.
type reservation struct {
	key string
	rev uint64
	e   idemEntry
}

// begin reserves key for params. It returns a reservation to finish, or the
// stored reply of an earlier request (result or error), or an error.
func (id *idempotency) begin(ctx context.Context, key, params string) (*reservation, json.RawMessage, error) {
	e := idemEntry{Params: params, Started: id.now().UTC(), Instance: id.instance}
	b, _ := json.Marshal(e)
	for {
		rev, err := id.kv.Create(ctx, key, b)
		if err == nil {
			return &reservation{key: key, rev: rev, e: e}, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("idempotency reserve: %w", err)
		}
		cur, err := id.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted in between: try to reserve again
		}
		if err != nil {
			return nil, nil, fmt.Errorf("idempotency get: %w", err)
		}
		var prev idemEntry
		if err := json.Unmarshal(cur.Value(), &prev); err != nil {
			return nil, nil, fmt.Errorf("idempotency entry: %w", err)
		}
		if prev.Params != params {
			id.hits("conflict")
			return nil, nil, contract.Errorf(contract.CodeIdempotencyUsed, "idempotency key was used with different params")
		}
		if prev.Done {
			id.hits("replay")
			res, err := prev.reply()
			return nil, res, err
		}
		if id.now().Sub(prev.Started) > id.stale {
			// The holder went away (crashed mid-request): take over.
			rev, err := id.kv.Update(ctx, key, b, cur.Revision())
			if err == nil {
				id.hits("takeover")
				return &reservation{key: key, rev: rev, e: e}, nil, nil
			}
			continue
		}
		id.hits("wait")
		if err := id.wait(ctx, key, cur.Revision()); err != nil {
			return nil, nil, err
		}
	}
}

// wait blocks until key changes after revision (done, deleted, taken over).
func (id *idempotency) wait(ctx context.Context, key string, revision uint64) error {
	w, err := id.kv.Watch(ctx, key, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("idempotency watch: %w", err)
	}
	defer w.Stop()
	// The key may have changed between Get and Watch.
	if cur, err := id.kv.Get(ctx, key); err != nil || cur.Revision() != revision {
		return nil
	}
	// Poll as well, at a low rate, in case an update slips past the
	// watcher (the watch starts after the Get above).
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return contract.Errorf(contract.CodeTimeout, "deadline passed while the first request with this idempotency key was in flight")
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e != nil {
				return nil
			}
		case <-t.C:
			if cur, err := id.kv.Get(ctx, key); err != nil || cur.Revision() != revision {
				return nil
			}
		}
	}
}

func (e *idemEntry) reply() (json.RawMessage, error) {
	if e.ErrCode != "" {
		return nil, &contract.Error{Code: e.ErrCode, Message: e.ErrMsg, Data: e.ErrData}
	}
	return e.Result, nil
}

// finish stores the reply of a reserved request: result, or an error a
// retry must see (keep), or deletes the reservation (a definite failure
// a retry may run again).
func (id *idempotency) finish(ctx context.Context, r *reservation, result json.RawMessage, cerr *contract.Error, keep bool) error {
	if cerr != nil && !keep {
		err := id.kv.Delete(ctx, r.key, jetstream.LastRevision(r.rev))
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("idempotency release: %w", err)
		}
		return nil
	}
	e := r.e
	e.Done = true
	if cerr != nil {
		e.ErrCode, e.ErrMsg, e.ErrData = cerr.Code, cerr.Message, cerr.Data
	} else {
		e.Result = result
	}
	b, _ := json.Marshal(e)
	if _, err := id.kv.Update(ctx, r.key, b, r.rev); err != nil {
		return fmt.Errorf("idempotency store: %w", err)
	}
	return nil
}
