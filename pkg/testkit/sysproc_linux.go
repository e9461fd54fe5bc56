package testkit

import "syscall"

// sysProcAttr puts the child in a process group of its own (a Ctrl-C in
// the terminal reaches only the test, which stops its children in order)
// and has the kernel kill it when the test process dies, so no service
// outlives a crashed test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
