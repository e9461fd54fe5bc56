package conference

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// Idempotency keys, so that a client can retry a command whose answer it
// lost without creating or dialling twice. A CreateConf or InviteJoinConf that
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
	// Token identifies the request holding the reservation, so a retried
	// write whose first attempt was stored recognises its own entry.
	Token string `json:"token,omitempty"`
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
	e := idemEntry{Params: params, Started: id.now().UTC(), Instance: id.instance, Token: newToken()}
	b, _ := json.Marshal(e)
	// Every KV request is retried on JetStream unavailability within ctx
	// (nothing has been dialled yet). A Create or Update that timed out
	// may have been stored: the entry then carries this request's token and
	// is taken as this request's reservation.
	for {
		var rev uint64
		err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
			rev, err = id.kv.Create(ctx, key, b)
			return err
		})
		if err == nil {
			return &reservation{key: key, rev: rev, e: e}, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("idempotency reserve: %w", err)
		}
		var cur jetstream.KeyValueEntry
		err = retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
			cur, err = id.kv.Get(ctx, key)
			return err
		})
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
		if prev.Token != "" && prev.Token == e.Token {
			// Our own Create (or takeover) was stored after all.
			return &reservation{key: key, rev: cur.Revision(), e: e}, nil, nil
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
			actx, cancel := context.WithTimeout(ctx, kvAttempt)
			rev, err := id.kv.Update(actx, key, b, cur.Revision())
			cancel()
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

// newToken is a random reservation token.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
	// Retried on JetStream unavailability within ctx: a reservation left
	// unfinished would make a retry of the request wait, then (after
	// IdempotencyStale) take over and run again. A write that timed out
	// but was stored shows up as a revision mismatch: the entry is then
	// read back and compared.
	if cerr != nil && !keep {
		err := retryJS(ctx, kvAttempt, func(ctx context.Context) error {
			err := id.kv.Delete(ctx, r.key, jetstream.LastRevision(r.rev))
			if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil
			}
			if conflict(err) {
				if _, gerr := id.kv.Get(ctx, r.key); errors.Is(gerr, jetstream.ErrKeyNotFound) {
					return nil // our delete was stored
				}
			}
			return err
		})
		if err != nil {
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
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		_, err := id.kv.Update(ctx, r.key, b, r.rev)
		if err != nil && conflict(err) {
			if cur, gerr := id.kv.Get(ctx, r.key); gerr == nil && bytes.Equal(cur.Value(), b) {
				return nil // our update was stored
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency store: %w", err)
	}
	return nil
}
