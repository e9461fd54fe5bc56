package edge

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/testkit"

	"github.com/gorilla/websocket"
)

// TestIdleConnectionMemory measures the Go memory (heap + stacks) an idle
// connection costs, client and server together (both run in this process),
// and checks the edge keeps one goroutine per idle connection.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 connections")
	}
	const n = 1000
	e := newEnv(t)
	ed := e.edge(nil)
	d := &websocket.Dialer{ReadBufferSize: 256, WriteBufferSize: 256, WriteBufferPool: &sync.Pool{}}
	var stack uint64
	measure := func() (uint64, int) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stack = ms.StackInuse - stack
		return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
	}
	before, g0 := measure()
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := dialErr(ed.url, fmt.Sprintf("idle%d", i), "", d)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	testkit.Eventually(t, "ListOwned of every session", 20*time.Second, func() bool { return len(e.rsp.callsOf("ListOwned")) >= n })
	time.Sleep(200 * time.Millisecond) // workers exit
	after, g1 := measure()
	per := float64(after-before) / n
	t.Logf("idle connection: %.0f B of Go heap+stack (client and server; %.0f B of it stacks), %.2f goroutines", per, float64(stack)/n, float64(g1-g0)/n)
	if g := float64(g1-g0) / n; g > 1.05 {
		t.Errorf("%.2f goroutines per idle connection, want 1", g)
	}
}
