package callback

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func reads(in *instance) float64     { return testutil.ToFloat64(in.srv.metrics.reads) }
func conflicts(in *instance) float64 { return testutil.ToFloat64(in.srv.metrics.conflicts) }

// The steady path reads a conference's last event once, then publishes
// with one round trip per callback.
func TestCachedPublishNeedsNoRead(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	for i := range 5 {
		body := xmlBody("Request", "confid", "8101", "callid", fmt.Sprintf("%032d", i), "jointime", "20261128103000")
		if code, _ := in.post(t, testSecret, "joined", "text/plain", body); code != http.StatusOK {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	if n := reads(in); n != 1 {
		t.Errorf("reads = %v, want 1 (the first callback's)", n)
	}
	got := e.events("8101")
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if len(got) != 5 {
		t.Fatalf("stored %d", len(got))
	}
}

// A second instance stores an event behind the first one's cache: the
// first one's optimistic publish is refused (wrong last sequence), it reads
// and stores with the next seq. Seqs stay dense across both.
func TestCacheConflictWithSecondInstance(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	post := func(in *instance, i int) {
		t.Helper()
		body := xmlBody("Request", "confid", "8201", "callid", fmt.Sprintf("%032d", i), "jointime", "20261128103000")
		if code, _ := in.post(t, testSecret, "joined", "text/plain", body); code != http.StatusOK {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	post(a, 0) // a: read (miss), publish seq 1, cache
	post(a, 1) // a: cache hit, seq 2
	post(b, 2) // b: read (miss), seq 3
	post(a, 3) // a: cache says seq 2 → refused → read → seq 4
	post(a, 4) // a: cache hit again, seq 5
	post(b, 5) // b: cache says seq 3 → refused → read → seq 6
	got := e.events("8201")
	if len(got) != 6 {
		t.Fatalf("stored %d events, want 6: %+v", len(got), got)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.CallID != fmt.Sprintf("%032d", i) {
			t.Errorf("event %d = seq %d call %s", i, ev.Seq, ev.CallID)
		}
	}
	if conflicts(a) != 1 || reads(a) != 2 {
		t.Errorf("a: conflicts %v reads %v, want 1 and 2", conflicts(a), reads(a))
	}
	if conflicts(b) != 1 || reads(b) != 2 {
		t.Errorf("b: conflicts %v reads %v, want 1 and 2", conflicts(b), reads(b))
	}
}

// A retry of the event the cache says is the latest is confirmed by a read
// and answered as a duplicate; a retry of an older event goes through
// JetStream's Nats-Msg-Id; both are stored once.
func TestDuplicateAfterCacheHit(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	j1 := xmlBody("Request", "confid", "8301", "callid", callA, "jointime", "20261128103000")
	j2 := xmlBody("Request", "confid", "8301", "callid", callB, "jointime", "20261128103001")
	for i, b := range []string{j1, j2, j2, j1, j2} {
		if code, body := in.post(t, testSecret, "joined", "text/plain", b); code != http.StatusOK || body != EmptyResponse {
			t.Fatalf("step %d: %d %q", i, code, body)
		}
	}
	got := e.events("8301")
	if len(got) != 2 || got[0].CallID != callA || got[1].CallID != callB || got[1].Seq != 2 {
		t.Fatalf("stored %+v", got)
	}
	if d := in.outcome("joined", outcomeDuplicate); d != 3 {
		t.Errorf("duplicates %v, want 3", d)
	}
	// Still on the cached path afterwards: one more event, no new read
	// beyond the two key-match confirmations.
	r := reads(in)
	j3 := xmlBody("Request", "confid", "8301", "callid", callA, "quittime", "20261128103500")
	if code, _ := in.post(t, testSecret, "quit", "text/plain", j3); code != http.StatusOK {
		t.Fatal(code)
	}
	if reads(in) != r {
		t.Errorf("reads went from %v to %v on a cache hit", r, reads(in))
	}
	if got := e.events("8301"); len(got) != 3 || got[2].Seq != 3 {
		t.Fatalf("stored %+v", got)
	}
}

// A repeatable event (media without a time) whose key the cache holds is
// not answered from the cache: another instance may have stored a
// different event since, after which the repeat is a new event.
func TestRepeatableEventNotDroppedOnStaleCache(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	mute := "confid=8401&callid=" + callA + "&notifytype=4&result=0"
	unmute := "confid=8401&callid=" + callA + "&notifytype=14&result=0"
	for i, step := range []struct {
		in   *instance
		body string
	}{{a, mute}, {b, unmute}, {a, mute}, {a, mute}} {
		if code, _ := step.in.post(t, testSecret, "media", "application/x-www-form-urlencoded", step.body); code != http.StatusOK {
			t.Fatalf("step %d: %d", i, code)
		}
	}
	got := e.events("8401")
	if len(got) != 3 || got[0].Media["notifytype"] != "4" || got[1].Media["notifytype"] != "14" || got[2].Media["notifytype"] != "4" || got[2].Seq != 3 {
		t.Fatalf("stored %+v, want mute, unmute, mute", got)
	}
	if a.outcome("media", outcomeDuplicate) != 1 {
		t.Errorf("a duplicates %v, want 1 (the last step)", a.outcome("media", outcomeDuplicate))
	}
}

// With a cache of one conference, two conferences evict each other: every
// callback reads, and sequences stay dense (eviction only costs a read).
func TestCacheEviction(t *testing.T) {
	e := newEnv(t)
	in := e.start(func(c *Config) { c.SeqCacheSize = 1 })
	for i := range 6 {
		conf := []string{"8501", "8502"}[i%2]
		body := xmlBody("Request", "confid", conf, "callid", fmt.Sprintf("%032d", i), "jointime", "20261128103000")
		if code, _ := in.post(t, testSecret, "joined", "text/plain", body); code != http.StatusOK {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	if n := reads(in); n != 6 {
		t.Errorf("reads %v, want 6 (every callback a miss)", n)
	}
	if in.srv.pub.CacheLen() != 1 {
		t.Errorf("cache holds %d conferences, bound 1", in.srv.pub.CacheLen())
	}
	for _, conf := range []string{"8501", "8502"} {
		got := e.events(conf)
		if len(got) != 3 || got[0].Seq != 1 || got[1].Seq != 2 || got[2].Seq != 3 {
			t.Errorf("%s: %+v", conf, got)
		}
	}
	off := e.start(func(c *Config) { c.SeqCacheSize = -1 })
	if off.srv.pub.CacheLen() >= 0 {
		t.Error("-seq-cache-size -1 did not disable the cache")
	}
}

// Two instances, each with a warm cache, hammer the same conferences
// concurrently: seqs stay dense, every call is stored once.
func TestCachedConcurrentInstances(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		for _, conf := range []string{"8601", "8602"} {
			body := xmlBody("Request", "confid", conf, "callid", fmt.Sprintf("%032d", i), "jointime", "20261128103000")
			for _, in := range []*instance{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code, _, err := in.postErr(testSecret, "joined", "text/plain", body); err != nil || code != http.StatusOK {
						errs <- fmt.Errorf("%s call %d: %d %v", conf, i, code, err)
					}
				}()
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, conf := range []string{"8601", "8602"} {
		got := e.events(conf)
		if len(got) != n {
			t.Fatalf("%s: stored %d, want %d", conf, len(got), n)
		}
		seen := map[string]bool{}
		for i, ev := range got {
			if ev.Seq != uint64(i+1) || seen[ev.CallID] {
				t.Fatalf("%s: event %d seq %d call %s (seen %v)", conf, i, ev.Seq, ev.CallID, seen[ev.CallID])
			}
			seen[ev.CallID] = true
		}
	}
}
