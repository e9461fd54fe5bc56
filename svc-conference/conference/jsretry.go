package conference

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream is briefly unavailable during a leader election (a node
// killed or restarted: ~5–6 s), when the client is reconnecting, and while
// a new replicated asset forms its Raft group. Requests see that as
// timeouts, "no responders", "no response from stream" or "JetStream
// system temporarily unavailable". The state layer retries such failures
// with short attempts and backoff within the caller's deadline where that
// is safe (reads; revision-checked writes, whose re-run re-reads; the
// record write after a dial, which the handler must not lose), and what
// still fails reaches the caller as contract.CodeUnavailable (retryable)
// instead of internal. Nothing here ever repeats a platform call.

// kvAttempt bounds one KV request: a request to a stream that lost its
// leader hangs until its context ends, so one attempt must not eat the
// caller's whole deadline. (Variables for the tests.)
var kvAttempt = 2 * time.Second

// startAttempt bounds one attempt of creating or binding a bucket, the
// events stream or the consumer at start-up. Creating a replicated asset
// on a fresh cluster may take a few seconds; two instances creating the
// same one at once may both hang (the reason for the retries).
var startAttempt = 5 * time.Second

// errUnavailable marks a JetStream failure that outlasted the retries.
type errUnavailable struct{ err error }

func (e *errUnavailable) Error() string { return "jetstream unavailable: " + e.err.Error() }
func (e *errUnavailable) Unwrap() error { return e.err }

// JetStream API error codes meaning "not now".
const (
	jsClusterNotAvail  = 10008 // JetStream system temporarily unavailable
	jsClusterNotLeader = 10009 // JetStream cluster can not handle request
	jsInsufficientRes  = 10023 // insufficient resources (a node is down while placing)
	jsStreamOffline    = 10118
	jsConsumerOffline  = 10119
	jsNoPeers          = 10005 // no suitable peers for placement (a node is down)
)

// unavailable reports whether err says JetStream could not answer now, as
// opposed to answering no (not found, wrong revision, bad request).
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ue *errUnavailable
	if errors.As(err, &ue) {
		return true
	}
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, jetstream.ErrNoHeartbeat) {
		return true
	}
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode {
		case jsClusterNotAvail, jsClusterNotLeader, jsStreamOffline, jsConsumerOffline:
			return true
		}
		if ae.Code == 503 || ae.Code == 408 {
			return true
		}
	}
	msg := err.Error()
	for _, s := range []string{"no response from stream", "no responders", "temporarily unavailable", "cluster not available", "not current"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryJS runs op, each attempt with at most attempt, until it succeeds,
// fails for a reason other than unavailability, or ctx nears its end. An
// attempt that timed out while ctx lives counts as unavailability. When
// ctx has a deadline the retries stop a little before it (a tenth of the
// time left, at most 250 ms) so the caller still gets the answer; what
// then remains is an *errUnavailable. op must be safe to repeat: a read, or
// a write whose repetition is harmless or detected.
func retryJS(ctx context.Context, attempt time.Duration, op func(ctx context.Context) error) error {
	inner := ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(dl)/10, 250*time.Millisecond)
		var cancel context.CancelFunc
		inner, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	backoff := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(inner, attempt)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if !unavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if inner.Err() != nil {
			return &errUnavailable{err}
		}
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-inner.Done():
			if ctx.Err() != nil {
				return err
			}
			return &errUnavailable{err}
		}
		backoff = min(backoff*2, time.Second)
	}
}

// unavailableError is the reply to a request whose state could not be read
// or written because JetStream did not answer.
func unavailableError() *contract.Error {
	return contract.Errorf(contract.CodeUnavailable, "conference state temporarily unavailable; retry")
}

// startRetry is retryJS for start-up: it also retries placement failures
// (a node of the cluster is down or just restarting) and "stream not found"
// for an asset that was just created, by us or by an instance starting at the
// same moment, while the cluster's metadata is still spreading to the server
// we asked.
func startRetry(ctx context.Context, op func(ctx context.Context) error) error {
	return retryJS(ctx, startAttempt, func(ctx context.Context) error {
		err := op(ctx)
		var ae *jetstream.APIError
		if errors.As(err, &ae) && (ae.ErrorCode == jsInsufficientRes || ae.ErrorCode == jsNoPeers ||
			ae.ErrorCode == jetstream.JSErrCodeStreamNotFound) {
			return &errUnavailable{err}
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return &errUnavailable{err}
		}
		return err
	})
}

// alreadyExists reports a create that lost a race with another instance
// creating the same asset.
func alreadyExists(err error) bool {
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) ||
		errors.Is(err, jetstream.ErrConsumerExists) || errors.Is(err, jetstream.ErrConsumerNameAlreadyInUse) {
		return true
	}
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode {
		case jetstream.JSErrCodeStreamNameInUse, jetstream.JSErrCodeConsumerNameExists,
			jetstream.JSErrCodeConsumerAlreadyExists, jetstream.JSErrCodeConsumerExists:
			return true
		}
	}
	return strings.Contains(err.Error(), "already in use") || strings.Contains(err.Error(), "already exists")
}
