// Package e2e holds the end-to-end tests of issue 5: svc-callback,
// svc-conference and two svc-edge instances, embedded NATS and the
// Yuntongxun simulator in one test process, over real HTTP and WebSockets
// (pkg/client as the browser). Each test builds its own stack (stack_test.go).
//
// hostile_test.go is the hostile-input suite: identity takeover, toll fraud
// with many identities, enumeration, protocol abuse and the small doors,
// against the production defaults (connection tokens on, the call budget).
package e2e
