package conference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/svc"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// recordsOptions are the settings of `svc-conference records` beyond the
// service's own (NATS_URL, CONF_TIME_ZONE).
type recordsOptions struct {
	format      string
	since       string
	until       string
	fullNumbers bool
}

// runRecords is `svc-conference records [-format jsonl|csv] [-since t]
// [-until t] [-full-numbers] [the service's flags]`: the calls of the
// conferences that ended between since and until (RFC 3339, or a Go
// duration back from now: -since 24h), read from FinishedBucket
// (finished.go), written to stdout for reconciling the platform's bill.
// Numbers are masked as in the logs unless -full-numbers, which a bill
// reconciliation needs; then a warning goes to stderr.
func runRecords(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	f, _ := cfg.flags()
	o := recordsOptions{format: "jsonl"}
	f.String(&o.format, "format", "records: `jsonl` (one JSON object per call) or `csv`", svc.NoEnv())
	f.String(&o.since, "since", "records: conferences ended at or after this time (RFC 3339, or a duration back from now: 24h); empty = all kept", svc.NoEnv())
	f.String(&o.until, "until", "records: conferences ended before this time (RFC 3339 or a duration back from now); empty = now", svc.NoEnv())
	f.Bool(&o.fullNumbers, "full-numbers", "records: write phone numbers in full (personal data: a bill reconciliation needs them); masked by default", svc.NoEnv())
	if err := f.Parse(args, getenv, stdout); err != nil {
		return err
	}
	if o.format != "jsonl" && o.format != "csv" {
		return fmt.Errorf("-format %q: want jsonl or csv", o.format)
	}
	now := time.Now()
	since, err := timeArg(o.since, now, time.Time{})
	if err != nil {
		return fmt.Errorf("-since: %w", err)
	}
	until, err := timeArg(o.until, now, now)
	if err != nil {
		return fmt.Errorf("-until: %w", err)
	}
	if o.fullNumbers {
		fmt.Fprintln(stderr, "warning: phone numbers are written in full: the output is personal data; keep it no longer than the reconciliation needs")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	recs, err := finishedRecords(ctx, cfg.NATSURL)
	if err != nil {
		return err
	}
	loc := cfg.location()
	var rows []callRecord
	for _, r := range recs {
		if end := r.endedAt(loc); !end.Before(since) && end.Before(until) {
			rows = append(rows, r.callRecords(loc, o.fullNumbers)...)
		}
	}
	return writeCallRecords(stdout, o.format, rows)
}

// timeArg parses an RFC 3339 time or a duration back from now; def when
// s is empty.
func timeArg(s string, now, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return now.Add(-d), nil
}

// finishedRecords reads every record in FinishedBucket with one watcher
// (its current values, then it stops), ordered by end and confid.
func finishedRecords(ctx context.Context, url string) ([]*record, error) {
	nc, err := nats.Connect(url, nats.Name("svc-conference records"), nats.Timeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, contract.FinishedBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // no conference has finished yet
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.FinishedBucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", contract.FinishedBucket, err)
	}
	defer w.Stop()
	var out []*record
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every current value delivered
				sort.Slice(out, func(i, j int) bool {
					if !out[i].Finished.Equal(out[j].Finished) {
						return out[i].Finished.Before(out[j].Finished)
					}
					return out[i].ConfID < out[j].ConfID
				})
				return out, nil
			}
			r, err := decodeRecord(e.Value())
			if err != nil {
				return nil, fmt.Errorf("finished record %s: %w", e.Key(), err)
			}
			out = append(out, r)
		case <-ctx.Done():
			return nil, fmt.Errorf("reading %s: %w", contract.FinishedBucket, ctx.Err())
		}
	}
}
