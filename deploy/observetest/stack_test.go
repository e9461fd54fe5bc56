// Package observetest checks the operator's view of confapplet on the real
// binaries: the Grafana dashboard and the Prometheus alert rules in deploy/
// name only metrics the services export, the rules parse, and the call
// records `svc-conference records` exports match what the platform
// simulator dialled (docs/operations.md, "Dashboards and alerts" and "Call
// records").
package observetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"
)

const (
	secret   = "observe-callback-secret"
	tokenKey = "observe-token-key" // the edges' HS256 key
)

// TestObservability starts the services as processes, drives one
// conference through the simulator (answered, hung up, busy, no answer,
// invalid, a refused number, a refused token), lets the platform delete it,
// and then checks the metrics and the call records against it.
func TestObservability(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	build := &testkit.Builder{Root: repoRoot, Dir: filepath.Join(dir, "bin")}
	st, err := teststack.Start(ctx, teststack.Options{Dir: dir, Build: build, Secret: secret,
		Edge: map[string]string{"EDGE_AUTH_SECRET": tokenKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	tr := drive(ctx, t, st)
	t.Run("metrics", func(t *testing.T) { checkMetrics(ctx, t, st) })
	t.Run("records", func(t *testing.T) { checkRecords(ctx, t, build, st, tr) })
}
