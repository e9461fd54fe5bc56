package conference

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// faultJS wraps a JetStream context to inject what a cluster does during
// a leader election or a concurrent create: requests that hang, and
// errors such as "no response from stream".
type faultJS struct {
	jetstream.JetStream
	mu    sync.Mutex
	rules []*faultRule
}

// faultRule makes op ("create-bucket", "get", "put", "create", "update",
// "delete") on bucket fail with err times times (-1: until cleared). A
// nil err means hang until the request's context ends; with real set the
// real request is made first (it succeeds, its answer is lost).
type faultRule struct {
	bucket, op string
	times      int
	err        error
	real       bool
}

func (f *faultJS) add(r faultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &r)
}

func (f *faultJS) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

func (f *faultJS) rule(bucket, op string) *faultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.bucket == bucket && r.op == op && r.times != 0 {
			if r.times > 0 {
				r.times--
			}
			c := *r
			return &c
		}
	}
	return nil
}

// fault runs real unless a rule says otherwise.
func (f *faultJS) fault(ctx context.Context, bucket, op string, real func() error) error {
	r := f.rule(bucket, op)
	if r == nil {
		return real()
	}
	if r.real {
		_ = real()
	}
	if r.err == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return r.err
}

func (f *faultJS) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := f.fault(ctx, cfg.Bucket, "create-bucket", func() (err error) {
		kv, err = f.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &faultKV{KeyValue: kv, f: f, bucket: cfg.Bucket}, nil
}

func (f *faultJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := f.JetStream.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return &faultKV{KeyValue: kv, f: f, bucket: bucket}, nil
}

type faultKV struct {
	jetstream.KeyValue
	f      *faultJS
	bucket string
}

func (k *faultKV) Get(ctx context.Context, key string) (e jetstream.KeyValueEntry, err error) {
	err = k.f.fault(ctx, k.bucket, "get", func() error { e, err = k.KeyValue.Get(ctx, key); return err })
	return e, err
}

func (k *faultKV) Put(ctx context.Context, key string, v []byte) (rev uint64, err error) {
	err = k.f.fault(ctx, k.bucket, "put", func() error { rev, err = k.KeyValue.Put(ctx, key, v); return err })
	return rev, err
}

func (k *faultKV) Create(ctx context.Context, key string, v []byte, opts ...jetstream.KVCreateOpt) (rev uint64, err error) {
	err = k.f.fault(ctx, k.bucket, "create", func() error { rev, err = k.KeyValue.Create(ctx, key, v, opts...); return err })
	return rev, err
}

func (k *faultKV) Update(ctx context.Context, key string, v []byte, last uint64) (rev uint64, err error) {
	err = k.f.fault(ctx, k.bucket, "update", func() error { rev, err = k.KeyValue.Update(ctx, key, v, last); return err })
	return rev, err
}

func (k *faultKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return k.f.fault(ctx, k.bucket, "delete", func() error { return k.KeyValue.Delete(ctx, key, opts...) })
}

// startFaulty starts an instance whose JetStream requests go through f;
// it returns New's error instead of failing.
func (e *env) startFaulty(f *faultJS, mod func(*Config)) (*Service, error) {
	e.t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		e.t.Fatal(err)
	}
	nc, js := e.ns.ConnectJS(e.t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	f.JetStream = js
	p, err := NewYTX(cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := newService(cfg, nc, f, p, zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.ErrorLevel))
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(svc.Stop)
	return svc, nil
}

// shortAttempts makes one KV attempt short, so the tests wait less.
func shortAttempts(t *testing.T) {
	ka, sa := kvAttempt, startAttempt
	kvAttempt, startAttempt = 300*time.Millisecond, time.Second
	t.Cleanup(func() { kvAttempt, startAttempt = ka, sa })
}

// deadlineIn is a Confapplet-Deadline header value d from now.
func deadlineIn(d time.Duration) string {
	return strconv.FormatInt(time.Now().Add(d).UnixMilli(), 10)
}

// TestStartRetriesBucketCreation (item 1): two instances creating the same
// replicated bucket at once on a fresh cluster both hang; one that timed
// out must try again, and a create that lost the race ("already in use")
// binds the bucket the other made. Before, the first hang used up the
// whole 15 s start and New failed.
func TestStartRetriesBucketCreation(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	// The first create of the conferences bucket is done by the server but
	// its answer never comes; the second loses to "another instance".
	f.add(faultRule{bucket: contract.ConfBucket, op: "create-bucket", times: 1, real: true})
	f.add(faultRule{bucket: contract.OwnersBucket, op: "create-bucket", times: 2})
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := e.startFaulty(f, func(c *Config) { c.StartTimeout = 20 * time.Second })
		done <- err
	}()
	// Meanwhile "the other instance" creates the owners bucket.
	if _, err := e.js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{
		Bucket: contract.OwnersBucket, Storage: jetstream.FileStorage, History: 1,
		Description: "confapplet owner index: <clientid>.<confid>"}); err != nil {
		t.Fatal(err)
	}
	f.add(faultRule{bucket: contract.IdempotencyBucket, op: "create-bucket", times: 1, err: jetstream.ErrStreamNameAlreadyInUse, real: true})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("New: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("New did not return")
	}
	t.Logf("started in %s through 3 hung and 1 lost creates", time.Since(start).Round(time.Millisecond))
	e.create("alice", 5) // the instance serves
}

// TestStartTwoInstancesAtOnce: two instances starting at the same moment
// on fresh NATS both come up.
func TestStartTwoInstancesAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = e.startFaulty(&faultJS{}, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	e.create("alice", 5)
}

// TestJetStreamUnavailableIsRetryable (item 2): JetStream not answering is
// a retryable unavailable (-32000), not internal (-32603); a short outage
// is ridden out within the request's deadline; nothing is dialled while
// the idempotency key cannot be reserved.
func TestJetStreamUnavailableIsRetryable(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	svc, err := e.startFaulty(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	confID := e.create("alice", 10)
	inv := func(key string) contract.InviteJoinConfRequest {
		return contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678", IdempotencyKey: key}
	}

	// The idempotency bucket's leader is being elected for longer than the
	// request may wait.
	f.add(faultRule{bucket: contract.IdempotencyBucket, op: "create", times: -1, err: jetstream.ErrNoStreamResponse})
	e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, deadlineIn(1500*time.Millisecond)), inv("k1"))
	f.clear()
	// Hanging requests (no answer at all) too.
	f.add(faultRule{bucket: contract.IdempotencyBucket, op: "create", times: -1})
	e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, deadlineIn(1500*time.Millisecond)), inv("k1"))
	f.clear()
	if n := len(e.sim.Calls()); n != 0 {
		t.Fatalf("dialled %d while the key could not be reserved", n)
	}

	// A shorter outage is retried within the deadline: one dial.
	f.add(faultRule{bucket: contract.IdempotencyBucket, op: "create", times: 3, err: jetstream.ErrNoStreamResponse})
	f.add(faultRule{bucket: contract.ConfBucket, op: "get", times: 2, err: nats.ErrNoResponders})
	var callID string
	mustJSON(t, e.must(contract.MethodInviteJoinConf, "alice", inv("k2")), &callID)
	if n := len(e.sim.Calls()); n != 1 {
		t.Fatalf("dialled %d", n)
	}
	// The stored reply replays.
	var again string
	mustJSON(t, e.must(contract.MethodInviteJoinConf, "alice", inv("k2")), &again)
	if again != callID || len(e.sim.Calls()) != 1 {
		t.Fatalf("replay %q (first %q), dialled %d", again, callID, len(e.sim.Calls()))
	}

	// Reads of the KV: unavailable, not internal. The read methods answer
	// from the in-memory view meanwhile (view.go); a read-modify-write
	// method reads the KV.
	f.add(faultRule{bucket: contract.ConfBucket, op: "get", times: -1, err: nats.ErrNoResponders})
	e.fails(contract.CodeUnavailable, contract.MethodDismissConf, hdr("alice", contract.HeaderDeadline, deadlineIn(time.Second)), contract.ConfRequest{ConfID: confID})
	for _, m := range []string{contract.MethodGetConf, contract.MethodQueryConfState} {
		e.must(m, "alice", contract.ConfRequest{ConfID: confID})
	}
	// With the view off they read the KV: unavailable too.
	svc.Stop()
	if _, err := e.startFaulty(f, func(c *Config) { c.ViewMaxRecords = 0 }); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{contract.MethodGetConf, contract.MethodQueryConfState} {
		e.fails(contract.CodeUnavailable, m, hdr("alice", contract.HeaderDeadline, deadlineIn(time.Second)), contract.ConfRequest{ConfID: confID})
	}
	f.clear()
	if c := e.getConf("alice", confID); len(c.Members) != 1 {
		t.Fatalf("members %+v", c.Members)
	}
}

// TestRateLimitStateUnavailable: the guard fails closed, with a retryable
// unavailable.
func TestRateLimitStateUnavailable(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	if _, err := e.startFaulty(f, func(c *Config) { c.InviteRatePerSec, c.InviteBurst = 10, 10 }); err != nil {
		t.Fatal(err)
	}
	confID := e.create("alice", 10)
	f.add(faultRule{bucket: RateLimitBucket, op: "get", times: -1, err: jetstream.ErrNoStreamResponse})
	e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, deadlineIn(time.Second)),
		contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678"})
	if n := len(e.sim.Calls()); n != 0 {
		t.Fatalf("dialled %d without the limit checked", n)
	}
}

// TestInviteRecordedBeforeReply (item 3): an invitation is answered with
// its callid only once its member is in the state; a record write that
// JetStream does not answer is retried within the deadline.
func TestInviteRecordedBeforeReply(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	if _, err := e.startFaulty(f, nil); err != nil {
		t.Fatal(err)
	}
	confID := e.create("alice", 10)
	// The conferences bucket loses its leader right after the dial: the
	// first writes get no answer (one is stored all the same).
	f.add(faultRule{bucket: contract.ConfBucket, op: "update", times: 1, err: jetstream.ErrNoStreamResponse})
	f.add(faultRule{bucket: contract.ConfBucket, op: "update", times: 1, real: true})
	f.add(faultRule{bucket: contract.ConfBucket, op: "update", times: 2, err: jetstream.ErrNoStreamResponse})
	callID := e.invite("alice", confID, "13812345678")
	f.clear()
	c := e.getConf("alice", confID)
	if m, ok := findMember(c, callID); !ok || m.Number != "13812345678" {
		t.Fatalf("callid %s answered but not recorded: %+v", callID, c.Members)
	}
	if res := e.must(contract.MethodQuitConf, "alice", contract.CallRequest{ConfID: confID, CallID: callID}); string(res) != "null" {
		t.Fatalf("QuitConf %s", res)
	}
}

// TestInviteNotRecorded (item 3): when the member cannot be recorded
// within the deadline although the platform dialled, the reply is an
// error whose data carries the callid, an idempotent retry replays it
// without dialling, and QuitConf of that callid hangs the call up.
func TestInviteNotRecorded(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	if _, err := e.startFaulty(f, nil); err != nil {
		t.Fatal(err)
	}
	confID := e.create("alice", 10)
	req := contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678", IdempotencyKey: "unrecorded"}
	f.add(faultRule{bucket: contract.ConfBucket, op: "update", times: -1, err: jetstream.ErrNoStreamResponse})
	cerr := e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, deadlineIn(6*time.Second)), req)
	var data struct {
		CallID   string `json:"callid"`
		Recorded bool   `json:"recorded"`
	}
	mustJSON(t, cerr.Data, &data)
	calls := e.sim.Calls()
	if len(calls) != 1 || data.CallID != calls[0].CallSid || data.Recorded {
		t.Fatalf("error data %s, platform calls %+v", cerr.Data, calls)
	}
	again := e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice"), req)
	if string(again.Data) != string(cerr.Data) || len(e.sim.Calls()) != 1 {
		t.Fatalf("retry: %v %s; dialled %d", again, again.Data, len(e.sim.Calls()))
	}
	// The state still lacks the member; QuitConf asks the platform.
	if _, ok := findMember(e.getConf("alice", confID), data.CallID); ok {
		t.Fatal("member recorded although every write failed")
	}
	if res := e.must(contract.MethodQuitConf, "alice", contract.CallRequest{ConfID: confID, CallID: data.CallID}); string(res) != "null" {
		t.Fatalf("QuitConf %s", res)
	}
	if st := simMemberState(e, confID, data.CallID); st != "failed" && st != "left" {
		t.Fatalf("platform call %s is %q after QuitConf", data.CallID, st)
	}
	f.clear()
	// A callid the platform does not know either is still call_not_found.
	e.fails(contract.CodeCallNotFound, contract.MethodQuitConf, hdr("alice"), contract.CallRequest{ConfID: confID, CallID: "0123456789abcdef0123456789abcdef"})
}

// TestQuitConfCallOnlyThePlatformKnows (item 3): a callid the platform
// dialled into the conference but the state never recorded (its event has
// not arrived) is hung up, not refused with call_not_found.
func TestQuitConfCallOnlyThePlatformKnows(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	confID := e.create("alice", 10)
	p, err := NewYTX(e.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	callID, err := p.InviteJoinConf(ctx, confID, "13812345678")
	if err != nil {
		t.Fatal(err)
	}
	if res := e.must(contract.MethodQuitConf, "alice", contract.CallRequest{ConfID: confID, CallID: callID}); string(res) != "null" {
		t.Fatalf("QuitConf %s", res)
	}
	if st := simMemberState(e, confID, callID); st != "failed" && st != "left" {
		t.Fatalf("platform call is %q", st)
	}
	// Not the owner: still forbidden before anything is asked.
	e.fails(contract.CodeForbidden, contract.MethodQuitConf, hdr("bob"), contract.CallRequest{ConfID: confID, CallID: callID})
}

func simMemberState(e *env, confID, callID string) string {
	for _, c := range e.sim.Conferences() {
		if c.ConfID != confID {
			continue
		}
		for _, m := range c.Members {
			if m.CallSid == callID {
				return m.State
			}
		}
	}
	return ""
}

// TestInviteNotRecordedRetryRecovers (item 3): once the state answers
// again, a retry with the same idempotency key records the dialled member
// and gets the callid, without dialling again.
func TestInviteNotRecordedRetryRecovers(t *testing.T) {
	shortAttempts(t)
	e := newEnv(t, envOpts{})
	f := &faultJS{}
	if _, err := e.startFaulty(f, nil); err != nil {
		t.Fatal(err)
	}
	confID := e.create("alice", 10)
	req := contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345678#13912345678", IdempotencyKey: "recovers"}
	f.add(faultRule{bucket: contract.ConfBucket, op: "update", times: -1, err: jetstream.ErrNoStreamResponse})
	cerr := e.fails(contract.CodeUnavailable, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, deadlineIn(6*time.Second)), req)
	var data struct {
		CallID string `json:"callid"`
	}
	mustJSON(t, cerr.Data, &data)
	f.clear()
	var callID string
	mustJSON(t, e.must(contract.MethodInviteJoinConf, "alice", req), &callID)
	if callID != data.CallID {
		t.Fatalf("retry got %q, the dialled call is %q", callID, data.CallID)
	}
	if n := len(e.sim.Calls()); n != 2 {
		t.Fatalf("dialled %d, want the 2 numbers once", n)
	}
	c := e.getConf("alice", confID)
	if len(c.Members) != 2 {
		t.Fatalf("members %+v", c.Members)
	}
	if _, ok := findMember(c, callID); !ok {
		t.Fatalf("%s not recorded: %+v", callID, c.Members)
	}
}
