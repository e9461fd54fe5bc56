package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/streams"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// world is one test's NATS and the logs (writers) appending to it.
type world struct {
	t  *testing.T
	ns *testkit.NATS
	js jetstream.JetStream
}

func newWorld(t *testing.T) *world {
	ns := testkit.StartNATS(t)
	_, js := ns.ConnectJS(t)
	return &world{t: t, ns: ns, js: js}
}

// writer is a Log on its own connection, as another instance of
// svc-callback would be; conflicts counts its wrong-last-sequence retries.
func (w *world) writer(stream streams.EventsConfig, conflicts *atomic.Int64) *Log {
	nc, js := w.ns.ConnectJS(w.t)
	return New(nc, js, Config{Stream: stream, CacheSize: 100, OnConflict: func() { conflicts.Add(1) }})
}

func event(conf, call string) *contract.Event {
	return &contract.Event{Kind: contract.KindJoined, ConfID: conf, CallID: call, Time: "20261128103000", Received: time.Now().UTC()}
}

func ident(key string) Identity {
	return Identity{Key: key, MsgID: func(uint64) string { return key }}
}

func (w *world) append(l *Log, ev *contract.Event, id Identity) Appended {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := l.Append(ctx, ev, id)
	if err != nil {
		w.t.Fatalf("append %s: %v", id.Key, err)
	}
	return res
}

// stored is every event of conf in the stream, in stream order, with the
// seq the header gives.
func (w *world) stored(conf string) []uint64 {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := w.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		w.t.Fatal(err)
	}
	var seqs []uint64
	for from := uint64(1); ; {
		m, err := st.GetMsg(ctx, from, jetstream.WithGetMsgSubject(contract.EventsSubject(conf)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return seqs
		}
		if err != nil {
			w.t.Fatal(err)
		}
		seq, err := StoredSeq(m)
		if err != nil {
			w.t.Fatal(err)
		}
		var body contract.Event
		if json.Unmarshal(m.Data, &body) != nil || body.Seq != seq {
			w.t.Fatalf("stream seq %d: header seq %d, body %s", m.Sequence, seq, m.Data)
		}
		seqs = append(seqs, seq)
		from = m.Sequence + 1
	}
}

func wantSeqs(t *testing.T, got []uint64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("stored seqs %v, want 1..%d", got, n)
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("stored seqs %v, want 1..%d", got, n)
		}
	}
}

// Two writers interleave on one conference (each with a warm cache that
// the other makes stale): JetStream refuses the stale publishes, which are
// retried, and the seqs stored are 1..n without gap or duplicate.
func TestConflictingWritersKeepSeqsDense(t *testing.T) {
	w := newWorld(t)
	var ca, cb atomic.Int64
	a, b := w.writer(streams.EventsConfig{}, &ca), w.writer(streams.EventsConfig{}, &cb)
	interleave := 0
	a.BeforePublish = func(*contract.Event) {
		if interleave < 3 {
			interleave++
			w.append(b, event("c1", "between"+strconv.Itoa(interleave)), ident("between"+strconv.Itoa(interleave)))
		}
	}
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		key := fmt.Sprintf("e%d", i)
		if res := w.append(l, event("c1", key), ident(key)); res.Duplicate {
			t.Fatalf("%s stored as a duplicate", key)
		}
	}
	wantSeqs(t, w.stored("c1"), 9)
	if ca.Load() == 0 {
		t.Error("no publish was refused: the writers did not conflict")
	}
}

// A repeated callback (the same identity) is stored once, whether it is
// still the conference's latest event or others came after it.
func TestDuplicateStoredOnce(t *testing.T) {
	w := newWorld(t)
	var c atomic.Int64
	l := w.writer(streams.EventsConfig{}, &c)
	first := w.append(l, event("c2", "a"), ident("a"))
	again := w.append(l, event("c2", "a"), ident("a"))
	if !again.Duplicate || again.Seq != first.Seq || again.StreamSeq != first.StreamSeq {
		t.Fatalf("retry of the latest: %+v, first %+v", again, first)
	}
	w.append(l, event("c2", "b"), ident("b"))
	if late := w.append(l, event("c2", "a"), ident("a")); !late.Duplicate || late.StreamSeq != first.StreamSeq {
		t.Fatalf("retry of an older event: %+v", late)
	}
	wantSeqs(t, w.stored("c2"), 2)
}

// A publish the stream refuses (a stale expected sequence) is not
// republished: the live subject carries exactly the stored events, each
// naming the stream sequence of the conference's event before it.
func TestRefusedPublishIsNotRepublished(t *testing.T) {
	w := newWorld(t)
	var c atomic.Int64
	l := w.writer(streams.EventsConfig{}, &c)
	live := make(chan *nats.Msg, 16)
	sub, err := w.ns.Connect(t).ChanSubscribe(streams.LiveSubject("c3"), live)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	w.append(l, event("c3", "a"), ident("a"))
	refused := nats.NewMsg(contract.EventsSubject("c3"))
	refused.Data, _ = json.Marshal(event("c3", "refused"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, refused, jetstream.WithExpectLastSequencePerSubject(0)); err == nil {
		t.Fatal("a publish on a stale expected sequence was stored")
	}
	w.append(l, event("c3", "b"), ident("b"))
	var prev uint64
	for i := range 2 {
		select {
		case m := <-live:
			sseq, _ := strconv.ParseUint(m.Header.Get(streams.HeaderStreamSeq), 10, 64)
			last, _ := strconv.ParseUint(m.Header.Get(streams.HeaderPrevStreamSeq), 10, 64)
			if m.Header.Get(HeaderSeq) != strconv.Itoa(i+1) || last != prev {
				t.Fatalf("republished #%d: seq %q, previous %d (want %d)", i+1, m.Header.Get(HeaderSeq), last, prev)
			}
			prev = sseq
		case <-time.After(5 * time.Second):
			t.Fatalf("stored event %d not republished", i+1)
		}
	}
	select {
	case m := <-live:
		t.Fatalf("more than the stored events republished: %s", m.Data)
	case <-time.After(200 * time.Millisecond):
	}
}

// After the stream is deleted (an operator, a store lost), an append fails
// as unavailable; the next one recreates the stream, and the log, which
// forgot what it knew, starts the conference again at seq 1.
func TestRecreatedStreamStartsAgain(t *testing.T) {
	w := newWorld(t)
	var c atomic.Int64
	l := w.writer(streams.EventsConfig{}, &c)
	for _, k := range []string{"a", "b", "c"} {
		w.append(l, event("c4", k), ident(k))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.js.DeleteStream(ctx, contract.EventsStream); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, event("c4", "d"), ident("d")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append without the stream: %v, want ErrUnavailable", err)
	}
	if l.CacheLen() != 0 {
		t.Errorf("%d conferences still believed after the stream was lost", l.CacheLen())
	}
	if res := w.append(l, event("c4", "d"), ident("d")); res.Seq != 1 {
		t.Fatalf("first event of the recreated stream: %+v", res)
	}
	wantSeqs(t, w.stored("c4"), 1)
}

// When every event of a conference has expired (MaxAge), the next append
// does not trust the writer's belief about the expired events: it is
// stored, once, as the conference's only event, seq 1, as in a recreated
// stream (docs/operations.md: a conference silent for the whole replay
// window starts its seqs again).
func TestMaxAgeExpiryStartsAgain(t *testing.T) {
	w := newWorld(t)
	var c atomic.Int64
	l := w.writer(streams.EventsConfig{MaxAge: time.Second, Duplicates: time.Second}, &c)
	w.append(l, event("c5", "a"), ident("a"))
	w.append(l, event("c5", "b"), ident("b"))
	testkit.Eventually(t, "events expired", 10*time.Second, func() bool { return len(w.stored("c5")) == 0 })
	if res := w.append(l, event("c5", "c"), ident("c")); res.Duplicate || res.Seq != 1 {
		t.Fatalf("after expiry: %+v", res)
	}
	wantSeqs(t, w.stored("c5"), 1)
}
