//go:build !linux

package testkit

import "syscall"

// sysProcAttr: only Linux can have the kernel kill a child with its parent.
func sysProcAttr() *syscall.SysProcAttr { return nil }
