package eventlog

import (
	"testing"
	"time"
)

func TestLastCacheLRUAndTTL(t *testing.T) {
	c := newLastCache(2, time.Minute)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.put("a", lastEvent{seq: 1, streamSeq: 10, key: "ka"})
	c.put("b", lastEvent{seq: 1, streamSeq: 11, key: "kb"})
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	c.put("c", lastEvent{seq: 1, streamSeq: 12, key: "kc"}) // evicts b
	if _, ok := c.get("b"); ok {
		t.Error("b not evicted")
	}
	if got, ok := c.get("a"); !ok || got.streamSeq != 10 || got.key != "ka" {
		t.Errorf("a = %+v %v", got, ok)
	}
	if c.len() != 2 {
		t.Errorf("len %d", c.len())
	}
	c.put("a", lastEvent{seq: 2, streamSeq: 13, key: "ka2"}) // update in place
	if got, _ := c.get("a"); got.seq != 2 || c.len() != 2 {
		t.Errorf("a after update = %+v, len %d", got, c.len())
	}
	now = now.Add(time.Minute)
	if _, ok := c.get("a"); ok {
		t.Error("a outlived its TTL")
	}
	if c.len() != 1 {
		t.Errorf("expired entry kept: len %d", c.len())
	}
	c.drop("c")
	if _, ok := c.get("c"); ok || c.len() != 0 {
		t.Error("drop")
	}
	c.put("d", lastEvent{})
	c.clear()
	if c.len() != 0 {
		t.Error("clear")
	}

	var off *lastCache // disabled
	off.put("x", lastEvent{seq: 1})
	if _, ok := off.get("x"); ok || newLastCache(-1, 0) != nil {
		t.Error("disabled cache remembers")
	}
}
