package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"confapplet/pkg/svc"
	"confapplet/pkg/yuntongxun"
	"confapplet/svc-callback/callback"
)

// productionBaseURL is used with real credentials when YTX_BASE_URL is unset.
const productionBaseURL = yuntongxun.ProductionBaseURL

// config is the local stack's settings: flags, each with a LOCAL_* twin.
type config struct {
	DataDir         string
	Temp            bool
	EdgeAddr        string
	EdgeOpsAddr     string
	CallbackAddr    string
	CallbackOpsAddr string
	ConfAddr        string
	SimAddr         string
	NATSPort        int
	LogFile         string // "" = <data>/confapplet.log (with -temp: $TMPDIR/confapplet-local.log)
	LogLevel        string
	ReadyTimeout    time.Duration
}

func defaultConfig() config {
	return config{
		DataDir: "data",
		// Loopback only: the local stack runs without connection tokens
		// unless EDGE_AUTH_* is set (stack.go), so it is not offered to the
		// network unless asked for with these flags.
		EdgeAddr:        "127.0.0.1:8080",
		EdgeOpsAddr:     "127.0.0.1:8090",
		CallbackAddr:    "127.0.0.1:8081",
		CallbackOpsAddr: "127.0.0.1:8091",
		ConfAddr:        "127.0.0.1:8082",
		SimAddr:         "127.0.0.1:8883",
		NATSPort:        4222,
		LogLevel:        "info",
		ReadyTimeout:    20 * time.Second,
	}
}

func (c config) storeDir() string { return filepath.Join(c.DataDir, "jetstream") }

// flags declares c's settings, each described once (README.md renders its
// table from them).
func (c *config) flags() *svc.Flags {
	f := svc.NewFlags("local", "LOCAL_")
	f.String(&c.DataDir, "data", "directory of the JetStream store (`data/jetstream`) and the log file")
	f.Bool(&c.Temp, "temp", "a temporary JetStream store, removed on exit")
	f.String(&c.EdgeAddr, "edge-addr", "svc-edge: the page and the WebSocket")
	f.String(&c.EdgeOpsAddr, "edge-ops-addr", "svc-edge's ops listener (`/healthz`, `/readyz`, `/metrics`)")
	f.String(&c.CallbackAddr, "callback-addr", "svc-callback (the real platform needs it reachable: e.g. `:8081`)")
	f.String(&c.CallbackOpsAddr, "callback-ops-addr", "svc-callback's ops listener (`/healthz`, `/readyz`, `/metrics`)")
	f.String(&c.ConfAddr, "conf-addr", "svc-conference's ops listener (`/healthz`, `/readyz`, `/metrics`)")
	f.String(&c.SimAddr, "sim-addr", "the Yuntongxun simulator (not started with real credentials)")
	f.Int(&c.NATSPort, "nats-port", "the embedded NATS server's client port")
	f.String(&c.LogFile, "log-file", "every service's JSON logs (the terminal gets a 4-line summary)",
		svc.DocDefault("`data/confapplet.log` (with `-temp`: `$TMPDIR/confapplet-local.log`)"))
	f.LogLevel(&c.LogLevel)
	f.Duration(&c.ReadyTimeout, "ready-timeout", "how long each service may take to become ready")
	return f
}

// parseConfig reads flags over their LOCAL_* environment twins; -h prints
// the settings to out and returns svc.ErrHelp.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	c := defaultConfig()
	err := c.flags().Parse(args, getenv, out)
	return c, err
}

// run is the whole program: parse, start everything, print where it is,
// wait for ctx (Ctrl-C) or a failing service, stop everything.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.LogFile == "" {
		cfg.LogFile = filepath.Join(cfg.DataDir, "confapplet.log")
		if cfg.Temp { // keep the log after the temporary store is gone
			cfg.LogFile = filepath.Join(os.TempDir(), "confapplet-local.log")
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logf.Close()

	s := newStack(cfg, getenv, logf)
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("%w (logs: %s)", err, cfg.LogFile)
	}
	printBanner(stdout, s)

	toggle, stopToggle := toggleEdgeSignal()
	defer stopToggle()
	edgeUp := true
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-s.failc:
			break wait
		case <-toggle:
			if edgeUp {
				runErr = s.stopService(svcEdge, 20*time.Second)
			} else {
				runErr = s.startService(ctx, svcEdge)
			}
			if runErr != nil {
				break wait
			}
			edgeUp = !edgeUp
			fmt.Fprintf(logf, "{\"level\":\"info\",\"service\":\"local\",\"edge_up\":%t,\"message\":\"SIGUSR1: svc-edge toggled\"}\n", edgeUp)
		}
	}
	fmt.Fprintln(stdout, "stopping…")
	if err := s.stop(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return fmt.Errorf("%w (logs: %s)", runErr, cfg.LogFile)
	}
	return nil
}

// isLoopback reports whether addr listens on a loopback address only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printBanner says what runs where, in at most 6 lines.
func printBanner(w io.Writer, s *stack) {
	c := s.cfg
	store := c.storeDir()
	if c.Temp {
		store = "a temporary store"
	}
	fmt.Fprintf(w, "confapplet is running: open http://localhost:%d  (Ctrl-C stops)\n", portOf(c.EdgeAddr))
	fmt.Fprintf(w, "  svc-edge %s · svc-callback %s · NATS %s (JetStream in %s) · ops: edge %s, callback %s, conference %s\n",
		c.EdgeAddr, c.CallbackAddr, s.nats.ClientURL(), store, c.EdgeOpsAddr, c.CallbackOpsAddr, c.ConfAddr)
	if s.real {
		hint := ""
		if s.secret == callback.DefaultLocalSecret {
			hint = " (choose a secret: CALLBACK_SECRET)"
		}
		fmt.Fprintf(w, "  REAL Yuntongxun platform at %s (YTX_* set): invites dial paid calls; app notification address: http://<public host>:%d/yt/%s%s\n",
			s.baseURL, portOf(c.CallbackAddr), s.secret, hint)
	} else {
		fmt.Fprintf(w, "  Yuntongxun simulator on %s, calling back %s (set YTX_ACCOUNT_SID, YTX_AUTH_TOKEN, YTX_APP_ID for the real platform)\n", c.SimAddr, s.notify)
	}
	switch {
	case s.open && isLoopback(c.EdgeAddr):
		fmt.Fprintf(w, "  OPEN for development: no connection tokens (anyone reaching it may act as any client id); listening on loopback only\n")
	case s.open:
		fmt.Fprintf(w, "  WARNING: no connection tokens and svc-edge on %s is reachable from the network: anyone may act as any client id (set EDGE_AUTH_SECRET)\n", c.EdgeAddr)
	default:
		fmt.Fprintf(w, "  connection tokens required (EDGE_AUTH_*): mint one with go run ./deploy/token -client <id>\n")
	}
	fmt.Fprintf(w, "  logs: %s\n", c.LogFile)
}
