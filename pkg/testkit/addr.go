package testkit

import (
	"net"
	"strconv"
	"testing"
)

// PickPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func PickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePort is PickPort for a test: it fails t when no port can be had.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := PickPort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

// FreeAddr returns "127.0.0.1:<a free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
