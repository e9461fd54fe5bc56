package recovery

import (
	"reflect"
	"testing"
)

func TestAdvance(t *testing.T) {
	for _, c := range []struct {
		last, seq uint64
		gap       Gap
		deliver   bool
	}{
		{0, 1, Gap{}, true},
		{4, 5, Gap{}, true},
		{4, 4, Gap{}, false}, // a duplicate
		{4, 2, Gap{}, false}, // older
		{4, 8, Gap{5, 7}, true},
		{0, 3, Gap{1, 2}, true},
	} {
		gap, deliver := Advance(c.last, c.seq)
		if gap != c.gap || deliver != c.deliver {
			t.Errorf("Advance(%d, %d) = %v %v, want %v %v", c.last, c.seq, gap, deliver, c.gap, c.deliver)
		}
	}
	if !(Gap{}).None() || (Gap{1, 1}).None() {
		t.Error("None")
	}
}

func TestMerge(t *testing.T) {
	ev := func(seqs ...uint64) []Event {
		var out []Event
		for _, s := range seqs {
			out = append(out, Event{Seq: s, Msg: []byte{byte(s)}})
		}
		return out
	}
	for _, c := range []struct {
		name     string
		last     uint64
		buffered []Event
		want     []Delivery
		wantLast uint64
	}{
		{"nothing buffered", 7, nil, nil, 7},
		{"all replayed already", 7, ev(5, 6, 7), nil, 7},
		{"overlap then new", 7, ev(6, 7, 8, 9), []Delivery{{Event: ev(8)[0]}, {Event: ev(9)[0]}}, 9},
		{"a hole after the replay", 7, ev(10, 11), []Delivery{{Gap: Gap{8, 9}, Event: ev(10)[0]}, {Event: ev(11)[0]}}, 11},
		{"duplicates in the buffer", 0, ev(1, 1, 2, 2), []Delivery{{Event: ev(1)[0]}, {Event: ev(2)[0]}}, 2},
	} {
		got, last := Merge(c.last, c.buffered)
		if !reflect.DeepEqual(got, c.want) || last != c.wantLast {
			t.Errorf("%s: Merge = %v %d, want %v %d", c.name, got, last, c.want, c.wantLast)
		}
	}
}

func TestBuffer(t *testing.T) {
	b := Buffer{Max: 2}
	b.Add(Event{Seq: 1})
	b.Add(Event{Seq: 2})
	if evs, over := b.Take(); len(evs) != 2 || over {
		t.Fatalf("Take = %v %v", evs, over)
	}
	for s := uint64(1); s <= 3; s++ {
		b.Add(Event{Seq: s})
	}
	if evs, over := b.Take(); len(evs) != 2 || !over {
		t.Fatalf("after overflow: Take = %v %v", evs, over)
	}
	if evs, over := b.Take(); evs != nil || over {
		t.Fatalf("after Take: %v %v", evs, over)
	}
}
