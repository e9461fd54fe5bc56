package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"confapplet/pkg/testkit"
)

// The tests run the stack as a separate process: the program of
// `go run ./deploy/local`, built once per test binary, with -race when the
// tests run with -race (then a data race between the services, which share
// one process there, fails the test: see stop). A process also gives the
// real Ctrl-C path and keeps the browser test's own process small.
// localBuild builds ./deploy/local once per test binary.
var localBuild = &testkit.Builder{Race: raceEnabled}

// localBinary builds ./deploy/local once and returns its path.
func localBinary(t *testing.T) string {
	t.Helper()
	bin, err := localBuild.Build(context.Background(), ".", ".")
	if err != nil {
		t.Fatal(err)
	}
	return bin[0]
}

func TestMain(m *testing.M) {
	code := m.Run()
	localBuild.Cleanup()
	os.Exit(code)
}

// localProc is a running local stack process.
type localProc struct {
	t        *testing.T
	cmd      *exec.Cmd
	dir      string
	logFile  string
	edgeAddr string
	simAddr  string
	stdout   testkit.Buffer
	stderr   testkit.Buffer
	exited   chan error
	done     bool
	readyIn  time.Duration
}

// startLocal runs the local stack with -temp on free ports and waits (at
// most readyWithin) until the edge's /readyz answers 200.
func startLocal(t *testing.T, readyWithin time.Duration, env ...string) *localProc {
	t.Helper()
	bin := localBinary(t)
	p := &localProc{t: t, dir: t.TempDir(), edgeAddr: testkit.FreeAddr(t), simAddr: testkit.FreeAddr(t), exited: make(chan error, 1)}
	p.logFile = filepath.Join(p.dir, "confapplet.log")
	p.cmd = exec.Command(bin, "-temp",
		"-edge-addr", p.edgeAddr,
		"-edge-ops-addr", testkit.FreeAddr(t),
		"-callback-addr", testkit.FreeAddr(t),
		"-callback-ops-addr", testkit.FreeAddr(t),
		"-conf-addr", testkit.FreeAddr(t),
		"-sim-addr", p.simAddr,
		"-nats-port", strconv.Itoa(testkit.FreePort(t)),
		"-log-file", p.logFile,
		"-log-level", "debug",
	)
	p.cmd.Dir = p.dir
	// A clean environment: no YTX_* credentials can leak in and dial real,
	// paid calls from a test.
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "TMPDIR=" + os.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.done {
			// Ctrl-C, as a user would: a clean exit, and no race reported.
			if err := p.stop(30 * time.Second); err != nil {
				t.Errorf("stop the local stack: %v", err)
			}
			if !p.done {
				p.cmd.Process.Kill()
				<-p.exited
				p.done = true
			}
		}
		if t.Failed() {
			t.Logf("local stack stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
			dumpLog(t, p.logFile)
		}
	})

	ready := "http://" + p.edgeAddr + "/readyz"
	hc := &http.Client{Timeout: time.Second}
	for {
		if resp, err := hc.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-p.exited:
			p.done = true
			t.Fatalf("the local stack exited before it was ready: %v", err)
		case <-time.After(25 * time.Millisecond):
		}
		if time.Since(start) > readyWithin {
			t.Fatalf("%s not ready within %s", ready, readyWithin)
		}
	}
	p.readyIn = time.Since(start)
	return p
}

// signal sends sig to the process.
func (p *localProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// toggleEdge stops svc-edge, or starts it again (SIGUSR1), and waits until
// its /readyz agrees.
func (p *localProc) toggleEdge(wantUp bool) {
	p.t.Helper()
	p.signal(syscall.SIGUSR1)
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + p.edgeAddr + "/readyz")
		up := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			resp.Body.Close()
		}
		if up == wantUp {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("svc-edge not up=%v within 20 s of SIGUSR1", wantUp)
}

// stop sends SIGINT and waits for a clean exit.
func (p *localProc) stop(within time.Duration) error {
	p.t.Helper()
	p.signal(syscall.SIGINT)
	select {
	case err := <-p.exited:
		p.done = true
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			return fmt.Errorf("data race in the local stack (exit %v):\n%s", err, p.stderr.String())
		}
		return err
	case <-time.After(within):
		return fmt.Errorf("still running %s after SIGINT", within)
	}
}

// sim calls the simulator's control API.
func (p *localProc) sim(method, path, body string) {
	p.t.Helper()
	req, err := http.NewRequest(method, "http://"+p.simAddr+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("simulator %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("simulator %s %s: %d %s", method, path, resp.StatusCode, b)
	}
}

// fastRules make the simulator answer in 300 ms and keep its busy test
// number busy, so a test does not wait for the demo's 1–2 s.
const fastRules = `[
	{"pattern": "^13800000001$", "outcome": "busy", "delay": "300ms"},
	{"pattern": ".", "outcome": "answer", "delay": "300ms"}
]`
