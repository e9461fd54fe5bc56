// Package testkit holds the test helpers every module of the workspace
// shares: a goroutine-safe log buffer, free loopback addresses, Eventually,
// an embedded NATS server a test can stop and start again, child processes,
// building binaries and waiting for them to be ready.
//
// Only tests (_test.go files) and the load tool deploy/bench import it; a
// test of this package fails when any other file does, so nothing a service
// ships depends on it. The stack of real service processes lives in the
// subpackage teststack.
package testkit
