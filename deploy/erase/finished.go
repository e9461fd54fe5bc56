package main

import (
	"context"

	"confapplet/pkg/contract"
)

// finished erases the target from the call records: the records of
// conferences the platform deleted, kept by svc-conference for
// `svc-conference records` (keys <confid>.<created ms>, values in the
// conference record's format). A conference's are purged; a number is
// removed from every member that had it, as in the live records.
func (e *eraser) finished(ctx context.Context, t target, rep *report) error {
	kv, err := e.bucket(ctx, contract.FinishedBucket)
	if kv == nil || err != nil {
		return err
	}
	if t.conf != "" {
		ks, err := keys(ctx, kv, t.conf+".*")
		if err != nil {
			return err
		}
		// Purged from the bucket's stream, leaving no marker that names the
		// conference (nothing watches this bucket).
		if err := e.purgeKeys(ctx, contract.FinishedBucket, ks); err != nil {
			return err
		}
		for _, k := range ks {
			rep.finished[k] = -1
		}
		return nil
	}
	ks, err := keys(ctx, kv)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, k := range ks {
		if err := e.rewrite(ctx, kv, k, t, &report{records: counts}); err != nil {
			return err
		}
	}
	for k, n := range counts {
		rep.finished[k] = n
	}
	return nil
}
