package eventlog

import (
	"container/list"
	"sync"
	"time"
)

// lastEvent is what this process believes about a conference's latest
// stored event: its per-conference seq, its stream sequence and its key.
//
// A belief is never trusted on its own: it is only used as the
// Nats-Expected-Last-Subject-Sequence of the next publish, which JetStream
// checks (a stale belief costs one wrong-last-sequence answer and a read),
// and a belief whose key matches an incoming callback's is confirmed by a
// read before the callback is answered as a duplicate.
type lastEvent struct {
	seq       uint64 // Event.Seq of the latest event (0: none)
	streamSeq uint64 // its stream sequence (0: none)
	key       string // its Confapplet-Event-Key
}

// lastCache is a bounded LRU of lastEvent per conference, with a TTL so a
// conference that went quiet is read again rather than trusted for ever.
// A nil *lastCache is a disabled cache (every lookup misses).
type lastCache struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	ll *list.List               // front = most recently used
	m  map[string]*list.Element // conference → element holding *cacheEntry
}

type cacheEntry struct {
	conf string
	last lastEvent
	at   time.Time // when last was learnt
}

// newLastCache returns a cache of at most max conferences whose entries
// expire ttl after they were learnt (ttl <= 0: never); max <= 0 → nil
// (disabled).
func newLastCache(max int, ttl time.Duration) *lastCache {
	if max <= 0 {
		return nil
	}
	return &lastCache{max: max, ttl: ttl, now: time.Now, ll: list.New(), m: make(map[string]*list.Element, min(max, 1024))}
}

// get returns the belief about conf, if any and not expired.
func (c *lastCache) get(conf string) (lastEvent, bool) {
	if c == nil {
		return lastEvent{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[conf]
	if !ok {
		return lastEvent{}, false
	}
	e := el.Value.(*cacheEntry)
	if c.ttl > 0 && c.now().Sub(e.at) >= c.ttl {
		c.ll.Remove(el)
		delete(c.m, conf)
		return lastEvent{}, false
	}
	c.ll.MoveToFront(el)
	return e.last, true
}

// put records last as conf's latest event, evicting the least recently
// used conference beyond max.
func (c *lastCache) put(conf string, last lastEvent) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[conf]; ok {
		e := el.Value.(*cacheEntry)
		e.last, e.at = last, now
		c.ll.MoveToFront(el)
		return
	}
	c.m[conf] = c.ll.PushFront(&cacheEntry{conf: conf, last: last, at: now})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).conf)
	}
}

// drop forgets conf (its latest event is unknown again).
func (c *lastCache) drop(conf string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[conf]; ok {
		c.ll.Remove(el)
		delete(c.m, conf)
	}
}

// clear forgets every conference (the stream was lost or recreated).
func (c *lastCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.m)
}

// len is the number of conferences held (tests, metrics).
func (c *lastCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
