package edge

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWSTransportFrames: batches of messages of every length class (7-, 16-
// and 64-bit lengths), with a ping among them and a close frame last, reach
// a gorilla client intact and in order.
func TestWSTransportFrames(t *testing.T) {
	tr := make(chan *wsTransport, 1)
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		tr <- newWSTransport(conn, 1<<22, 5*time.Second, nil)
	}))
	defer hs.Close()
	cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pings := make(chan struct{}, 4)
	cl.SetPingHandler(func(string) error { pings <- struct{}{}; return nil })
	w := <-tr
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 200000, 3}
	var want [][]byte
	for i, n := range sizes {
		m := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, m)
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			w.ping()
		}
	}
	_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, m := range want {
		typ, got, err := cl.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != websocket.TextMessage || !bytes.Equal(got, m) {
			t.Fatalf("message %d: type %d, %d bytes, want %d", i, typ, len(got), len(m))
		}
	}
	select {
	case <-pings:
	default:
		t.Fatal("no ping")
	}
	w.Close(4001)
	if err := w.Write([]byte("late")); err != ErrClosed {
		t.Fatalf("write after close: %v", err)
	}
	_, _, err = cl.ReadMessage()
	if !websocket.IsCloseError(err, 4001) {
		t.Fatalf("close: %v", err)
	}
}
