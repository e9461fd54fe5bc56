// Package e2e holds the end-to-end tests of issue 5: svc-callback,
// svc-conference and two svc-edge instances, embedded NATS and the
// Yuntongxun simulator in one test process, over real HTTP and WebSockets
// (pkg/client as the browser). Each test builds its own stack (stack_test.go).
package e2e
