package tracing

import (
	"context"
	"errors"
	"sync"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// The platform echoes none of our headers in its callbacks, so the trace
// of a command cannot reach them through the platform. Both sides know the
// call id (InviteJoinConf's answer; every callback of the call carries it)
// and the conference id: svc-conference writes the trace context of the
// command into the KV bucket contract.TracesBucket under CallKey (the
// InviteJoinConf that dialled a call) or ConfKey (the CreateConf of a
// conference), and svc-callback starts a callback's span as a child of
// what it finds under the callback's call id, else its conference id. Only
// when tracing is on, on either side: with it off nothing is written or
// read. A link lost (the bucket unreachable, a callback faster than the
// write) only makes that callback's trace a trace of its own.

// callsTTL is how long a command's trace context is kept: longer than a
// conference lasts.
const callsTTL = 24 * time.Hour

// callsMaxBytes bounds the bucket (a context is about 100 bytes with its
// key); when full, new contexts are not kept until old ones expire.
const callsMaxBytes = 64 << 20

// callsWait bounds one write or read, so that an unreachable bucket costs
// a traced callback or command at most this.
const callsWait = 250 * time.Millisecond

// callsRetry is how long after a failed bind the bucket is tried again.
const callsRetry = 10 * time.Second

// CallKey is the key of a call's trace context.
func CallKey(callID string) string { return "call." + callID }

// ConfKey is the key of a conference's trace context.
func ConfKey(confID string) string { return "conf." + confID }

// calls is the bucket, bound on first use.
type calls struct {
	js       jetstream.JetStream
	replicas int

	mu      sync.Mutex
	kv      jetstream.KeyValue
	retryAt time.Time
}

// UseCalls lets p remember and recall the trace context of platform
// commands in the bucket on js, which it creates (with replicas) if it is
// missing on first use. Call it once, before the service serves.
func (p *Provider) UseCalls(js jetstream.JetStream, replicas int) {
	if p != nil {
		p.calls = &calls{js: js, replicas: max(replicas, 1)}
	}
}

// bucket returns the bound bucket, binding or creating it if it is time to
// try.
func (c *calls) bucket(ctx context.Context) jetstream.KeyValue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kv != nil || time.Now().Before(c.retryAt) {
		return c.kv
	}
	kv, err := c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contract.TracesBucket,
		Description: "trace context of platform commands, for their callbacks (pkg/tracing)",
		TTL:         callsTTL,
		MaxBytes:    callsMaxBytes,
		Replicas:    c.replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = c.js.KeyValue(ctx, contract.TracesBucket)
	}
	if err != nil {
		c.retryAt = time.Now().Add(callsRetry)
		return nil
	}
	c.kv = kv
	return kv
}

// RememberCall records the trace context of ctx's span for the callbacks
// of the call callID (the InviteJoinConf that dialled it). Nothing
// without a span or a bucket.
func (p *Provider) RememberCall(ctx context.Context, callID string) {
	if p != nil && p.calls != nil {
		p.remember(ctx, CallKey(callID))
	}
}

// RememberConf records the trace context of ctx's span for the callbacks
// of the conference confID that name no call (its CreateConf).
func (p *Provider) RememberConf(ctx context.Context, confID string) {
	if p != nil && p.calls != nil {
		p.remember(ctx, ConfKey(confID))
	}
}

func (p *Provider) remember(ctx context.Context, key string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callsWait)
	defer cancel()
	kv := p.calls.bucket(ctx)
	if kv == nil {
		return
	}
	h := headerCarrier{}
	propagator.Inject(ctx, h)
	_, _ = kv.Put(ctx, key, []byte(h.Get("traceparent")))
}

// Recall returns the trace context of the command a callback of confID
// (and callID, if not empty) belongs to: the one remembered for the call,
// else for the conference; an invalid one when there is none.
func (p *Provider) Recall(ctx context.Context, confID, callID string) trace.SpanContext {
	if p == nil || p.calls == nil {
		return trace.SpanContext{}
	}
	ctx, cancel := context.WithTimeout(ctx, callsWait)
	defer cancel()
	kv := p.calls.bucket(ctx)
	if kv == nil {
		return trace.SpanContext{}
	}
	keys := []string{ConfKey(confID)}
	if callID != "" {
		keys = []string{CallKey(callID), keys[0]}
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return trace.SpanContext{}
		}
		if sc := extract(map[string][]string{"traceparent": {string(e.Value())}}); sc.IsValid() {
			return sc
		}
	}
	return trace.SpanContext{}
}
