package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
)

// TestLocalBinary runs `go run ./deploy/local`'s program as a separate
// process with -temp and free ports, waits for the edge's /readyz (10 s at
// most), serves the page, drives a conference over WebSocket with
// pkg/client, then stops it with SIGINT and expects a clean exit, a banner
// of at most 5 lines and the JSON logs in the log file.
func TestLocalBinary(t *testing.T) {
	p := startLocal(t, 10*time.Second)
	t.Logf("ready in %s", p.readyIn.Round(time.Millisecond))

	resp, err := http.Get("http://" + p.edgeAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := bufio.NewReader(resp.Body).Peek(256)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(head, []byte("<!doctype html>")) {
		t.Fatalf("GET /: %d %q", resp.StatusCode, head)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+p.edgeAddr, "process-test")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	confID, err := c.CreateConf(ctx)
	if err != nil {
		t.Fatalf("CreateConf: %v", err)
	}
	callID, err := c.InviteJoinConf(ctx, confID, "13912345678")
	if err != nil {
		t.Fatalf("InviteJoinConf: %v", err)
	}
	for joined := false; !joined; {
		select {
		case n := <-c.Notifications():
			if n.Method != contract.NotifyInviteJoin {
				continue
			}
			var ev struct {
				CallID string `json:"callid"`
				Result int    `json:"result"`
			}
			if err := n.Decode(&ev); err != nil {
				t.Fatal(err)
			}
			if ev.CallID == callID {
				if ev.Result != 0 {
					t.Fatalf("invite result %d, want 0", ev.Result)
				}
				joined = true
			}
		case <-ctx.Done():
			t.Fatal("no OnConfInviteJoin for the answering number")
		}
	}
	if err := c.DismissConf(ctx, confID); err != nil {
		t.Fatalf("DismissConf: %v", err)
	}
	c.Close()

	if err := p.stop(30 * time.Second); err != nil {
		t.Fatalf("stop with SIGINT: %v", err)
	}
	out := p.stdout.String()
	banner := strings.Split(strings.TrimSpace(strings.SplitN(out, "stopping…", 2)[0]), "\n")
	if len(banner) > 6 {
		t.Errorf("banner of %d lines, want at most 6:\n%s", len(banner), out)
	}
	if !strings.Contains(out, "no connection tokens") || !strings.Contains(out, "loopback only") {
		t.Errorf("the banner does not say the stack is open, on loopback only:\n%s", out)
	}
	if !strings.Contains(out, "http://localhost:"+strconv.Itoa(portOf(p.edgeAddr))) {
		t.Errorf("the banner does not say where the page is:\n%s", out)
	}
	if !strings.Contains(out, "simulator") {
		t.Errorf("the banner does not say the simulator runs:\n%s", out)
	}
	if strings.Contains(out, `"level"`) {
		t.Errorf("JSON logs on the terminal:\n%s", out)
	}
	logs, err := os.ReadFile(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"svc-edge", "svc-callback", "svc-conference", "ytxsim"} {
		if !bytes.Contains(logs, []byte(`"service":"`+svc+`"`)) {
			t.Errorf("no %s lines in the log file", svc)
		}
	}
}
