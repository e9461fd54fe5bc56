//go:build idlebench

package edge

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/testkit"

	"github.com/gorilla/websocket"
)

// TestIdleProfile holds 3,000 idle connections (pinged every second, pings
// answered) on an in-process edge and writes an exact heap profile
// (MemProfileRate 1) and a goroutine dump to $IDLE_PROFILE_DIR. Client and
// server share the process: leave the client out when reading it, e.g.
//
//	IDLE_PROFILE_DIR=/tmp/prof go test -tags idlebench -run TestIdleProfile ./svc-edge/edge/
//	go tool pprof -sample_index=inuse_space -top -ignore='TestIdleProfile|dialErr' /tmp/prof/heap.pprof
//
// The RSS figures come from the load tool, which runs the edge in its own
// process: go run ./deploy/bench idle.
func TestIdleProfile(t *testing.T) {
	dir := os.Getenv("IDLE_PROFILE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	runtime.MemProfileRate = 1
	const n = 3000
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.PingInterval = time.Second })
	d := &websocket.Dialer{ReadBufferSize: 256, WriteBufferSize: 256, WriteBufferPool: &sync.Pool{}}
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := dialErr(ed.url, fmt.Sprintf("idle%d", i), "", d)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	testkit.Eventually(t, "ListOwned of every session", 20*time.Second, func() bool { return len(e.rsp.callsOf("ListOwned")) >= n })
	time.Sleep(3 * time.Second) // pings answered
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap inuse %d KiB, stack inuse %d KiB, goroutines %d", ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine())
	f, _ := os.Create(dir + "/heap.pprof")
	_ = pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	f, _ = os.Create(dir + "/goroutine.txt")
	_ = pprof.Lookup("goroutine").WriteTo(f, 1)
	f.Close()
}
