// Package recovery decides what a watch of a conference delivers: every
// event once, in seq order, with a notice for the seqs the stream no longer
// holds. It does no I/O and takes no locks: the edge's watch feeds it the
// events it reads from the stream during a replay and the live events that
// arrive meanwhile, and sends what it returns (centrifuge keeps its
// recovery merge apart in the same way, so it can be tested alone).
package recovery

// Gap is a range of event seqs, From to To inclusive, that will never be
// delivered because the stream no longer holds them. The zero Gap is none.
type Gap struct{ From, To uint64 }

// None reports whether g is empty.
func (g Gap) None() bool { return g == Gap{} }

// Event is one encoded event and its seq.
type Event struct {
	Seq uint64
	Msg []byte
}

// Advance decides what to do with event seq when last is the last seq
// delivered: skip it when it is not newer (a duplicate, or one the replay
// delivered already), else deliver it, after reporting the gap before it
// if seqs are missing.
func Advance(last, seq uint64) (gap Gap, deliver bool) {
	if seq <= last {
		return Gap{}, false
	}
	if seq > last+1 {
		gap = Gap{From: last + 1, To: seq - 1}
	}
	return gap, true
}

// Delivery is one step of a merge: the gap to report first (if any), then
// the event to send.
type Delivery struct {
	Gap   Gap
	Event Event
}

// Merge appends the live events buffered during a replay to what the
// replay delivered up to last, in their order of arrival, dropping those
// the replay already delivered; it returns what to send and the new last.
func Merge(last uint64, buffered []Event) ([]Delivery, uint64) {
	var out []Delivery
	for _, e := range buffered {
		gap, ok := Advance(last, e.Seq)
		if !ok {
			continue
		}
		out = append(out, Delivery{Gap: gap, Event: e})
		last = e.Seq
	}
	return out, last
}

// Buffer holds the live events that arrive while a watch replays, up to
// Max. Past it, it only remembers that it overflowed: the replay then runs
// again from where it stopped, which reads the dropped events from the
// stream, so a burst during a long replay costs no unbounded memory.
type Buffer struct {
	Max      int
	events   []Event
	overflow bool
}

// Add keeps e, or marks the buffer overflowed when it is full.
func (b *Buffer) Add(e Event) {
	if len(b.events) < b.Max {
		b.events = append(b.events, e)
	} else {
		b.overflow = true
	}
}

// Take empties the buffer: the events kept, and whether some were
// dropped (then the events are of no use: the replay must run again).
func (b *Buffer) Take() (events []Event, overflowed bool) {
	events, overflowed = b.events, b.overflow
	b.events, b.overflow = nil, false
	return events, overflowed
}
