package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"confapplet/pkg/contract"
	"confapplet/pkg/pii"
	"confapplet/svc-callback/callback"
)

// report is what an erasure removed, by store.
type report struct {
	events   map[string]int // confid → events deleted from CONF_EVENTS
	restored int            // last events stored again without the number
	raw      int            // callbacks as received (and their markers) deleted from CALLBACK_RAW
	records  map[string]int // confid → members whose number was removed; -1: the whole record
	finished map[string]int // call-record key → members whose number was removed; -1: the whole record
	owners   int            // owner keys removed
	idem     int            // idempotency records removed
}

func newReport() *report {
	return &report{events: map[string]int{}, records: map[string]int{}, finished: map[string]int{}}
}

// print writes the report; the number itself is shown masked, so the
// report can be kept as the record of the request.
func (r *report) print(w io.Writer, t target, dryRun bool) {
	what := "conference " + t.conf
	if t.number != "" {
		what = "number " + pii.Number(t.number)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove (dry run)"
	}
	fmt.Fprintf(w, "erase %s: %s\n", what, verb)
	fmt.Fprintf(w, "  events (stream %s): %d%s", contract.EventsStream, sum(r.events), perConf(r.events))
	if r.restored > 0 {
		fmt.Fprintf(w, "; %d of them the last of its conference, stored again without the number", r.restored)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  callbacks as received (stream %s): %d\n", callback.RawStream, r.raw)
	if t.conf != "" {
		n := 0
		if r.records[t.conf] == -1 {
			n = 1
		}
		fmt.Fprintf(w, "  conference records (KV %s): %d\n", contract.ConfBucket, n)
	} else {
		fmt.Fprintf(w, "  members' numbers in conference records (KV %s): %d%s\n", contract.ConfBucket, sum(r.records), perConf(r.records))
	}
	if t.conf != "" {
		fmt.Fprintf(w, "  call records (KV %s): %d\n", contract.FinishedBucket, len(r.finished))
	} else {
		fmt.Fprintf(w, "  members' numbers in call records (KV %s): %d\n", contract.FinishedBucket, sum(r.finished))
	}
	fmt.Fprintf(w, "  owner keys (KV %s): %d\n", contract.OwnersBucket, r.owners)
	fmt.Fprintf(w, "  idempotency records (KV %s): %d\n", contract.IdempotencyBucket, r.idem)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += max(v, 0)
	}
	return n
}

// perConf is " (conference 1234: 2, 5678: 1)", or "" for none.
func perConf(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", id, max(m[id], 0)))
	}
	return " (conference " + strings.Join(parts, ", ") + ")"
}
