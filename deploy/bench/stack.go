package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/testkit/teststack"
	"confapplet/pkg/token"
)

// Settings of the bench stack.
const (
	benchSecret   = "bench-secret"
	benchOperator = "bench-operator"
	// benchTokenKey is the edges' HS256 key: the benchmarks run with
	// connection tokens on, as production does, and mint their own
	// (withToken).
	benchTokenKey = "bench-token-key"
)

// stack is one running confapplet: nats-server, svc-callback,
// svc-conference, the simulator and one svc-edge, each its own process.
type stack struct {
	*teststack.Stack
	pids        map[string]int // process name → pid, for CPU accounting
	edge        *teststack.Service
	edgeHTTP    string // http://127.0.0.1:port
	edgeWS      string // ws://127.0.0.1:port
	callbackURL string // http://127.0.0.1:port/yt/<secret>
	simURL      string
}

type stackOptions struct {
	edgeEnv map[string]string // extra EDGE_* settings
}

func startStack(ctx context.Context, e *env, so stackOptions) (*stack, error) {
	t0 := time.Now()
	edge := map[string]string{"EDGE_MAX_CONNS": "25000", "EDGE_SHUTDOWN_WINDOW": "500ms", "EDGE_SHUTDOWN_CAP": "5s",
		"EDGE_AUTH_SECRET": benchTokenKey}
	for k, v := range so.edgeEnv {
		edge[k] = v
	}
	conference := map[string]string{
		// A load test is not a person: lift the toll-fraud limits.
		"CONF_INVITE_RATE":             "0",
		"CONF_GLOBAL_INVITE_RATE":      "0",
		"CONF_MAX_CONFS_PER_CLIENT":    "0",
		"CONF_CALLS_PER_MINUTE":        "0",
		"CONF_CONFS_PER_MINUTE":        "0",
		"CONF_MAX_LIVE_CALLS":          "0",
		"CONF_SOURCE_CALLS_PER_MINUTE": "0",
		"CONF_SOURCE_CONFS_PER_MINUTE": "0",
		"CONF_DEFAULT_MAX_MEMBER":      "100",
		"CONF_MAX_MEMBER_LIMIT":        "100",
		"CONF_CONCURRENCY":             "256",
	}
	callback := map[string]string{}
	if e.profileDir != "" {
		for _, svc := range profiled {
			env := map[string]map[string]string{"svc-edge": edge, "svc-conference": conference, "svc-callback": callback}[svc.name]
			env[svc.env] = svc.addr
		}
	}
	ts, err := teststack.Start(ctx, teststack.Options{
		Dir:           e.dir,
		Build:         e.build,
		LogLevel:      "warn",
		Secret:        benchSecret,
		OperatorToken: benchOperator,
		Conference:    conference,
		Callback:      callback,
		Edge:          edge,
		Sim:           map[string]string{"SIM_AUTO_DELETE_AFTER": "24h"},
	})
	if err != nil {
		return nil, err
	}
	e.onStop(ts.Stop)
	st := &stack{Stack: ts, pids: ts.Pids(), edge: ts.Edges[0], callbackURL: ts.CallbackURL, simURL: ts.Sim.URL()}
	st.pids["bench"] = os.Getpid()
	st.edgeHTTP, st.edgeWS = st.edge.URL(), st.edge.WS()
	fmt.Fprintf(e.stdout, "  stack up in %s (nats-server, svc-callback, svc-conference, ytxsim, svc-edge: separate processes)\n",
		time.Since(t0).Round(time.Millisecond))
	return st, nil
}

// startEdge starts one more svc-edge process (name must be unique) on port
// (0: a free one) and returns it with its http:// base URL.
func (st *stack) startEdge(ctx context.Context, name string, port int) (*teststack.Service, string, error) {
	s, err := st.StartEdge(ctx, name, port)
	if err != nil {
		return nil, "", err
	}
	st.pids[name] = s.Pid()
	return s, s.URL(), nil
}

// setSimLatency sets the simulator's answer latency.
func (st *stack) setSimLatency(ctx context.Context, d time.Duration) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, st.simURL+"/_sim/latency?d="+d.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("set simulator latency: HTTP %d", resp.StatusCode)
	}
	return nil
}

// withToken is the client option that presents a connection token for
// clientID, minted afresh for every connect.
func withToken(clientID string) client.Option {
	return client.WithTokenSource(func(context.Context) (string, error) {
		return token.Sign(benchTokenKey, "", token.New(clientID, time.Now(), time.Hour))
	})
}
