package testkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process whose stdout and stderr go to a log file. It can
// be stopped, killed and started again with the same command line and
// environment, and every signal goes to it alone, by its pid.
type Proc struct {
	Name string
	Bin  string
	Args []string
	Env  []string // the child's whole environment
	Dir  string   // its working directory; "" is the test's
	Log  string   // the log file; each start appends to it

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// NewProc prepares bin with args, its output to logDir/<name>.log. The
// child's environment is env over a clean one (PATH, HOME and TMPDIR, and
// the Go runtime's own knobs, so GODEBUG=gctrace=1 or GOGC reach every
// process of a benchmark), so nothing from the developer's shell, such as
// NATS_URL or credentials, leaks in.
func NewProc(name, bin, logDir string, args []string, env map[string]string) *Proc {
	p := &Proc{Name: name, Bin: bin, Args: args, Log: filepath.Join(logDir, name+".log")}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			p.Env = append(p.Env, k+"="+v)
		}
	}
	for k, v := range env {
		p.Env = append(p.Env, k+"="+v)
	}
	return p
}

// Start starts the process; a new start after an exit appends to the log.
func (p *Proc) Start() error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	fmt.Fprintf(f, "\n==== %s start %s %s\n", time.Now().Format(time.RFC3339Nano), p.Bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = p.Env
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited, p.err = cmd, exited, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Pid is the running (or last) process's id, 0 before the first start.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return errors.New("not started")
	}
	return cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// Wait waits up to d for the process to exit and reports whether it did.
func (p *Proc) Wait(d time.Duration) bool {
	ch := p.Exited()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// Exited is closed when the current run of the process ends (nil before
// the first start).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return nil
	}
	return p.exited
}

// Running reports whether the process is started and has not exited.
func (p *Proc) Running() bool {
	ch := p.Exited()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// Err is how the last run ended (nil for exit 0 or while it runs).
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop ends the process: SIGTERM, then SIGKILL when it is still running
// after grace.
func (p *Proc) Stop(grace time.Duration) {
	if !p.Running() {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	if !p.Wait(grace) {
		p.Kill()
	}
}

// Tail returns the last n bytes of the log.
func (p *Proc) Tail(n int) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > int64(n) {
		_, _ = f.Seek(st.Size()-int64(n), io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
