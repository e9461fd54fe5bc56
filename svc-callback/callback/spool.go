package callback

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// The spool keeps, on local disk, the callbacks that arrive while the
// event store cannot take them (a NATS node cut off, a stream leader being
// elected, NATS down), so they are answered 200 instead of 503. The
// platform's retry policy is unknown (docs/yuntongxun.md): a 503 may be
// the last the platform ever says of that callback. A forwarder stores the
// spooled callbacks in arrival order once the store answers again; while
// anything is spooled, new callbacks queue behind it, so a conference's
// events keep their order.
//
// A spool is a directory of slot files (slot-0, slot-1, …), each locked
// (flock) by the one process that appends to it, so instances sharing a
// volume never write the same file; a process that starts takes the first
// free slot and also forwards what free slots left by stopped instances
// still hold. A record is a length, a CRC-32 and a JSON inbound (intake.go);
// it is fsynced before the platform gets its 200. What has been forwarded
// is remembered in slot-N.off; a crash between storing and remembering
// stores a callback twice, which the stores' de-duplication absorbs.

// errSpoolFull: the spool holds its maximum; the platform gets 503.
var errSpoolFull = errors.New("spool full")

const (
	spoolSlots      = 64 // instances that may share one spool directory
	spoolRecordHead = 8  // uint32 length, uint32 CRC-32 (IEEE) of the payload
	spoolMaxRecord  = 4 << 20
)

// slot is one spool file and how far it has been forwarded.
type slot struct {
	f, off *os.File
	size   int64 // bytes in f
	done   int64 // bytes forwarded
}

// spool is this process's slot plus the free slots it adopted at start
// (forwarded first: what they hold arrived earlier).
type spool struct {
	max int64

	mu      sync.Mutex
	own     *slot
	adopted []*slot
	pending atomic.Int64 // records not yet forwarded, all slots
	wake    chan struct{}

	syncMu sync.Mutex
	synced int64 // appended bytes known on disk (monotonic, across truncations)
	total  int64 // appended bytes (monotonic), under mu
}

// openSpool locks the first free slot of dir (created if needed) and
// adopts every other free slot that still holds records.
func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	sp := &spool{max: max, wake: make(chan struct{}, 1)}
	for i := range spoolSlots {
		sl, err := lockSlot(filepath.Join(dir, fmt.Sprintf("slot-%d", i)))
		if err != nil {
			sp.close()
			return nil, err
		}
		if sl == nil {
			continue // another process's
		}
		switch {
		case sp.own == nil:
			sp.own = sl
		case sl.size > sl.done:
			sp.adopted = append(sp.adopted, sl)
		default:
			sl.close()
		}
	}
	if sp.own == nil {
		sp.close()
		return nil, fmt.Errorf("spool %s: all %d slots are locked by other processes", dir, spoolSlots)
	}
	for _, sl := range append(sp.adopted, sp.own) {
		n, err := sl.recover()
		if err != nil {
			sp.close()
			return nil, err
		}
		sp.pending.Add(n)
	}
	return sp, nil
}

// lockSlot opens and locks path; nil when another process holds it.
func lockSlot(path string) (*slot, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool slot: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock spool slot %s: %w", path, err)
	}
	off, err := os.OpenFile(path+".off", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("spool offset: %w", err)
	}
	sl := &slot{f: f, off: off}
	st, err := f.Stat()
	if err != nil {
		sl.close()
		return nil, err
	}
	sl.size = st.Size()
	var b [8]byte
	if n, _ := off.ReadAt(b[:], 0); n == 8 {
		sl.done = min(int64(binary.BigEndian.Uint64(b[:])), sl.size)
	}
	return sl, nil
}

// recover counts the whole records after done and cuts a torn tail (a
// crash while appending: that callback was never answered 200).
func (sl *slot) recover() (int64, error) {
	var n int64
	at := sl.done
	for at < sl.size {
		_, next, err := sl.read(at)
		if err != nil {
			if err := sl.f.Truncate(at); err != nil {
				return 0, fmt.Errorf("cut torn spool record: %w", err)
			}
			sl.size = at
			break
		}
		n++
		at = next
	}
	return n, nil
}

// read decodes the record at off and returns the offset after it.
func (sl *slot) read(off int64) (inbound, int64, error) {
	var head [spoolRecordHead]byte
	if _, err := sl.f.ReadAt(head[:], off); err != nil {
		return inbound{}, 0, fmt.Errorf("spool record head at %d: %w", off, err)
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n > spoolMaxRecord {
		return inbound{}, 0, fmt.Errorf("spool record at %d: length %d", off, n)
	}
	payload := make([]byte, n)
	if _, err := sl.f.ReadAt(payload, off+spoolRecordHead); err != nil {
		return inbound{}, 0, fmt.Errorf("spool record at %d: %w", off, err)
	}
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(head[4:]) {
		return inbound{}, 0, fmt.Errorf("spool record at %d: checksum", off)
	}
	var rec inbound
	if err := json.Unmarshal(payload, &rec); err != nil {
		return inbound{}, 0, fmt.Errorf("spool record at %d: %w", off, err)
	}
	return rec, off + spoolRecordHead + int64(n), nil
}

func (sl *slot) close() {
	_ = sl.f.Close() // releases the lock
	_ = sl.off.Close()
}

// empty reports whether nothing waits to be forwarded.
func (sp *spool) empty() bool { return sp.pending.Load() == 0 }

// room is how many more bytes this process's slot takes.
func (sp *spool) room() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.max - (sp.own.size - sp.own.done)
}

// add appends rec to this process's slot and returns once it is on disk.
// Concurrent adds share one fsync.
func (sp *spool) add(rec inbound) error {
	payload, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("spool record: %w", err)
	}
	buf := make([]byte, spoolRecordHead+len(payload))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:8], crc32.ChecksumIEEE(payload))
	copy(buf[spoolRecordHead:], payload)

	sp.mu.Lock()
	if sp.own.size-sp.own.done+int64(len(buf)) > sp.max {
		sp.mu.Unlock()
		return errSpoolFull
	}
	if _, err := sp.own.f.Write(buf); err != nil {
		// A short write would leave a torn record in front of the next.
		_ = sp.own.f.Truncate(sp.own.size)
		sp.mu.Unlock()
		return fmt.Errorf("spool write: %w", err)
	}
	sp.own.size += int64(len(buf))
	sp.total += int64(len(buf))
	mine := sp.total
	sp.mu.Unlock()

	if err := sp.sync(mine); err != nil {
		return err
	}
	sp.pending.Add(1)
	select {
	case sp.wake <- struct{}{}:
	default:
	}
	return nil
}

// sync returns once the first upTo appended bytes are on disk.
func (sp *spool) sync(upTo int64) error {
	sp.syncMu.Lock()
	defer sp.syncMu.Unlock()
	if sp.synced >= upTo {
		return nil
	}
	sp.mu.Lock()
	target := sp.total
	sp.mu.Unlock()
	if err := sp.own.f.Sync(); err != nil {
		return fmt.Errorf("spool fsync: %w", err)
	}
	sp.synced = target
	return nil
}

// next returns the oldest record not yet forwarded, and a func that marks
// it forwarded; ok is false when there is none.
func (sp *spool) next() (rec inbound, forwarded func(), ok bool, err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for len(sp.adopted) > 0 && sp.adopted[0].done >= sp.adopted[0].size {
		sp.adopted[0].close() // drained: free for any process again
		sp.adopted = sp.adopted[1:]
	}
	sl := sp.own
	if len(sp.adopted) > 0 {
		sl = sp.adopted[0]
	}
	if sl.done >= sl.size {
		return rec, nil, false, nil
	}
	rec, end, err := sl.read(sl.done)
	if err != nil {
		return rec, nil, false, err
	}
	return rec, func() { sp.forwarded(sl, end) }, true, nil
}

// forwarded moves sl past a record; a drained slot is emptied, so the file
// does not grow across outages.
func (sp *spool) forwarded(sl *slot, end int64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sl.done = end
	sp.pending.Add(-1)
	if sl.done == sl.size && sl.f.Truncate(0) == nil {
		sl.size, sl.done = 0, 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(sl.done))
	_, _ = sl.off.WriteAt(b[:], 0)
}

// close releases every slot (and so their locks).
func (sp *spool) close() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, sl := range sp.adopted {
		sl.close()
	}
	sp.adopted = nil
	if sp.own != nil {
		sp.own.close()
		sp.own = nil
	}
}
