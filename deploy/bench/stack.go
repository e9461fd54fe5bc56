package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Settings of the bench stack.
const (
	benchSecret   = "bench-secret"
	benchOperator = "bench-operator"
	simSID        = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	simToken      = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	simAppID      = "cccccccccccccccccccccccccccccccc"
)

// stack is one running confapplet: nats-server, svc-callback,
// svc-conference, the simulator and one svc-edge, each its own process.
type stack struct {
	pids        map[string]int // process name → pid, for CPU accounting
	natsURL     string
	edge        *proc
	edgeHTTP    string // http://127.0.0.1:port
	edgeWS      string // ws://127.0.0.1:port
	callbackURL string // http://127.0.0.1:port/yt/<secret>
	simURL      string
	edgeBin     string
	edgeEnv     map[string]string
}

type stackOptions struct {
	edgeEnv map[string]string // extra EDGE_* settings
}

func startStack(ctx context.Context, e *env, so stackOptions) (*stack, error) {
	t0 := time.Now()
	bins := map[string]string{}
	for _, b := range []struct{ name, pkg, dir string }{
		{"svc-edge", "./svc-edge", "."},
		{"svc-conference", "./svc-conference", "."},
		{"svc-callback", "./svc-callback", "."},
		{"ytxsim", "./deploy/ytxsim", "."},
	} {
		p, err := e.build.build(ctx, b.name, b.pkg, b.dir)
		if err != nil {
			return nil, err
		}
		bins[b.name] = p
	}
	np, natsURL, err := startNATS(ctx, e)
	if err != nil {
		return nil, err
	}
	st := &stack{natsURL: natsURL, pids: map[string]int{"nats-server": np.pid(), "bench": os.Getpid()}}
	common := func(m map[string]string) map[string]string {
		m["NATS_URL"] = natsURL
		m["LOG_LEVEL"] = "warn"
		return m
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	cbPort, confPort, simPort, edgePort := ports[0], ports[1], ports[2], ports[3]
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	start := func(name string, env map[string]string, ready string) (*proc, error) {
		p, err := startProc(name, bins[name], e.dir, nil, env)
		if err != nil {
			return nil, err
		}
		e.onStop(func() { p.stop(10 * time.Second) })
		st.pids[name] = p.pid()
		return p, waitHTTP(ctx, ready, 60*time.Second, p)
	}

	// svc-callback first: it creates the events stream.
	if _, err := start("svc-callback", common(map[string]string{
		"CALLBACK_ADDR": addr(cbPort), "CALLBACK_SECRET": benchSecret,
	}), "http://"+addr(cbPort)+"/readyz"); err != nil {
		return nil, err
	}
	st.callbackURL = "http://" + addr(cbPort) + "/yt/" + benchSecret
	st.simURL = "http://" + addr(simPort)
	if _, err := start("svc-conference", common(map[string]string{
		"CONF_HTTP_ADDR":  addr(confPort),
		"YTX_BASE_URL":    st.simURL + "/2013-12-26",
		"YTX_ACCOUNT_SID": simSID, "YTX_AUTH_TOKEN": simToken, "YTX_APP_ID": simAppID,
		// A load test is not a person: lift the toll-fraud limits.
		"CONF_INVITE_RATE":          "0",
		"CONF_GLOBAL_INVITE_RATE":   "0",
		"CONF_MAX_CONFS_PER_CLIENT": "0",
		"CONF_DEFAULT_MAX_MEMBER":   "100",
		"CONF_MAX_MEMBER_LIMIT":     "100",
		"CONF_OPERATOR_TOKEN":       benchOperator,
		"CONF_CONCURRENCY":          "256",
	}), "http://"+addr(confPort)+"/readyz"); err != nil {
		return nil, err
	}
	if _, err := start("ytxsim", map[string]string{
		"SIM_ADDR":              addr(simPort),
		"SIM_NOTIFY_URL":        st.callbackURL,
		"SIM_AUTO_DELETE_AFTER": "24h",
		"YTX_ACCOUNT_SID":       simSID, "YTX_AUTH_TOKEN": simToken, "YTX_APP_ID": simAppID,
		"LOG_LEVEL": "warn",
	}, st.simURL+"/healthz"); err != nil {
		return nil, err
	}
	st.edgeBin = bins["svc-edge"]
	st.edgeEnv = so.edgeEnv
	if st.edge, st.edgeHTTP, err = st.startEdge(ctx, e, "svc-edge", edgePort); err != nil {
		return nil, err
	}
	st.edgeWS = "ws" + strings.TrimPrefix(st.edgeHTTP, "http")
	fmt.Fprintf(e.stdout, "  stack up in %s (nats-server, svc-callback, svc-conference, ytxsim, svc-edge: separate processes)\n",
		time.Since(t0).Round(time.Millisecond))
	return st, nil
}

// startEdge starts one more svc-edge process (name must be unique) on port
// (0: a free one) and returns it with its http:// base URL.
func (st *stack) startEdge(ctx context.Context, e *env, name string, port int) (*proc, string, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := map[string]string{
		"NATS_URL": st.natsURL, "LOG_LEVEL": "warn",
		"EDGE_ADDR": addr, "EDGE_MAX_CONNS": "25000", "EDGE_INSTANCE_ID": name,
		"EDGE_SHUTDOWN_WINDOW": "500ms", "EDGE_SHUTDOWN_CAP": "5s",
	}
	for k, v := range st.edgeEnv {
		env[k] = v
	}
	p, err := startProc(name, st.edgeBin, e.dir, nil, env)
	if err != nil {
		return nil, "", err
	}
	e.onStop(func() { p.stop(10 * time.Second) })
	st.pids[name] = p.pid()
	base := "http://" + addr
	return p, base, waitHTTP(ctx, base+"/readyz", 60*time.Second, p)
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
