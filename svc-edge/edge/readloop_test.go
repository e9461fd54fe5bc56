package edge

import (
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

// A text frame that is not UTF-8 fails the connection with 1007 (RFC 6455,
// 8.1), counted as such; valid text in any script is a request as usual,
// and a binary frame is only answered.
func TestInvalidUTF8Closes1007(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	ok := dial(t, ed.url, "utf8-ok", "")
	ok.send(`{"jsonrpc":"2.0","id":"会议-ü","method":"Nope"}`)
	if m := ok.response(`"会议-ü"`, true); m.Error == nil || m.Error.Code != -32601 {
		t.Fatalf("valid UTF-8 request: %s", m.raw)
	}
	if err := ok.c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if m := ok.mustRead(); m.Error == nil || m.Error.Code != -32600 {
		t.Fatalf("binary frame: %s", m.raw)
	}

	bad := dial(t, ed.url, "utf8-bad", "")
	if err := bad.c.WriteMessage(websocket.TextMessage, []byte("{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"Nope\"}")); err != nil {
		t.Fatal(err)
	}
	if code := bad.closeCode(5 * time.Second); code != contract.CloseBadText {
		t.Fatalf("close %d, want %d", code, contract.CloseBadText)
	}
	if got := counterValue(t, ed.srv, "confapplet_edge_disconnects_total", "bad_text"); got != 1 {
		t.Errorf("disconnects{bad_text} = %v, want 1", got)
	}
	// The other connection is unaffected.
	ok.send(`{"jsonrpc":"2.0","id":2,"method":"Nope"}`)
	if m := ok.response("2", true); m.Error == nil || m.Error.Code != -32601 {
		t.Fatalf("after another connection's bad frame: %s", m.raw)
	}
}
