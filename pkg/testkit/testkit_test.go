package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the child of the Proc tests.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTKIT_CHILD") {
	case "serve":
		ln, err := net.Listen("tcp", os.Getenv("TESTKIT_ADDR"))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(3)
		}
		fmt.Println("child up, PATH set:", os.Getenv("PATH") != "", "SECRET:", os.Getenv("TESTKIT_SECRET"))
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		select {}
	case "exit":
		fmt.Println("bye")
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes, want 800", n)
	}
}

func TestFreeAddrIsListenable(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runRecorded(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.msg
}

func TestEventually(t *testing.T) {
	start := time.Now()
	n := 0
	if msg := runRecorded(t, func(tb testing.TB) {
		Eventually(tb, "three polls", time.Second, func() bool { n++; return n == 3 })
	}); msg != "" {
		t.Fatalf("failed although the condition came true: %s", msg)
	}
	msg := runRecorded(t, func(tb testing.TB) {
		Eventually(tb, "never", 50*time.Millisecond, func() bool { return false })
	})
	if msg != "timed out waiting for never" {
		t.Fatalf("message %q", msg)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 5*time.Second {
		t.Fatalf("took %s", el)
	}
}

func childProc(t *testing.T, mode string, env map[string]string) *Proc {
	env["TESTKIT_CHILD"] = mode
	p := NewProc("child-"+mode, os.Args[0], t.TempDir(), nil, env)
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	return p
}

func TestProcLifecycle(t *testing.T) {
	addr := FreeAddr(t)
	t.Setenv("TESTKIT_SECRET", "from-the-shell")
	p := childProc(t, "serve", map[string]string{"TESTKIT_ADDR": addr})
	if p.Running() || p.Pid() != 0 {
		t.Fatal("running before Start")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := WaitTCP(ctx, addr, 10*time.Second, p); err != nil {
		t.Fatal(err)
	}
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("not running after Start")
	}
	Eventually(t, "the child's output in its log", 5*time.Second, func() bool {
		return strings.Contains(p.Tail(200), "child up, PATH set: true SECRET: \n")
	})
	p.Stop(5 * time.Second)
	if p.Running() {
		t.Fatal("running after Stop")
	}
	if p.Err() == nil {
		t.Fatal("a child ended by SIGTERM reports a clean exit")
	}
	// Started again with the same command line: the log keeps both runs.
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := WaitTCP(ctx, addr, 10*time.Second, p); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(p.Tail(1<<20), "==== "); n != 2 {
		t.Fatalf("%d start markers in the log, want 2", n)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p.Wait(5 * time.Second) {
		t.Fatal("still running after SIGKILL")
	}
}

func TestWaitSaysWhenTheProcessExits(t *testing.T) {
	p := childProc(t, "exit", map[string]string{})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	err := WaitHTTP(context.Background(), "http://"+FreeAddr(t)+"/readyz", 10*time.Second, p)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bye") {
		t.Fatalf("WaitHTTP = %v, want the exit and the log tail", err)
	}
}

func TestWaitGivesUp(t *testing.T) {
	start := time.Now()
	err := WaitTCP(context.Background(), FreeAddr(t), 100*time.Millisecond, nil)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("WaitTCP on a closed port = %v after %s", err, time.Since(start))
	}
}

func TestBinaryName(t *testing.T) {
	for pkg, want := range map[string]string{
		"./svc-edge":                        "svc-edge",
		"./deploy/ytxsim":                   "ytxsim",
		".":                                 "local",
		"github.com/nats-io/nats-server/v2": "nats-server",
	} {
		if got := binaryName("/repo/deploy/local", pkg); got != want {
			t.Errorf("binaryName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/go.work"); err != nil {
		t.Fatal(err)
	}
	if _, err := RepoRoot(os.TempDir()); err == nil {
		t.Fatal("found a go.work above the temp dir")
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	ch <- 3
	if got := Receive(t, ch, time.Second, "an even number", func(n int) bool { return n%2 == 0 }); got != 2 {
		t.Fatalf("Receive = %d, want 2 (1 skipped)", got)
	}
	if msg := runRecorded(t, func(tb testing.TB) {
		Receive(tb, ch, 30*time.Millisecond, "a four", func(n int) bool { return n == 4 })
	}); msg != "no a four within 30ms" {
		t.Fatalf("timeout message %q", msg)
	}
	close(ch)
	if msg := runRecorded(t, func(tb testing.TB) {
		Receive(tb, ch, time.Second, "anything", func(int) bool { return true })
	}); msg != "closed while waiting for anything" {
		t.Fatalf("closed message %q", msg)
	}
}
