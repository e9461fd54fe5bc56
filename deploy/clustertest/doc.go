// Package clustertest is the multi-process fault test of confapplet: it
// builds the real binaries, starts a 3-node NATS cluster (nats-server built
// from the module, real routes over loopback), two svc-conference instances,
// one svc-callback, two svc-edge and the Yuntongxun simulator as separate
// processes, runs 200 WebSocket clients (pkg/client) watching 20 conferences
// while invites and hang-ups go on, and injects faults: kill -9 of an edge,
// of a NATS node and of a conference instance, and SIGTERM of an edge. It
// checks that every client received every event exactly once and in order,
// and prints a summary table.
//
// It is behind the build tag "cluster" (it takes a few minutes and starts
// processes); run it from the repository root with
//
//	go test -tags cluster -count=1 -timeout 15m -v ./deploy/clustertest/
//
// All traffic stays on 127.0.0.1. Set CLUSTERTEST_KEEP=1 to keep the
// processes' logs (their directory is printed).
package clustertest
