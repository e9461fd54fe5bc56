package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"confapplet/pkg/yuntongxun"
	"confapplet/svc-callback/callback"
)

// productionBaseURL is used with real credentials when YTX_BASE_URL is unset.
const productionBaseURL = yuntongxun.ProductionBaseURL

// config is the local stack's settings: flags, each with a LOCAL_* twin.
type config struct {
	DataDir      string // -data: JetStream store and log file
	Temp         bool   // -temp: a temporary store, removed on exit
	EdgeAddr     string // -edge-addr
	CallbackAddr string // -callback-addr
	ConfAddr     string // -conf-addr: svc-conference's ops HTTP
	SimAddr      string // -sim-addr
	NATSPort     int    // -nats-port
	LogFile      string // -log-file: "" = <data>/confapplet.log (with -temp: $TMPDIR/confapplet-local.log)
	LogLevel     string // -log-level
	ReadyTimeout time.Duration
}

func defaultConfig() config {
	return config{
		DataDir:      "data",
		EdgeAddr:     ":8080",
		CallbackAddr: ":8081",
		ConfAddr:     ":8082",
		SimAddr:      ":8883",
		NATSPort:     4222,
		LogLevel:     "info",
		ReadyTimeout: 20 * time.Second,
	}
}

func (c config) storeDir() string { return filepath.Join(c.DataDir, "jetstream") }

// parseConfig reads flags over their LOCAL_* environment twins.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data", c.DataDir, "directory of the JetStream store and the log file (LOCAL_DATA)")
	fs.BoolVar(&c.Temp, "temp", c.Temp, "use a temporary store, removed on exit (LOCAL_TEMP)")
	fs.StringVar(&c.EdgeAddr, "edge-addr", c.EdgeAddr, "svc-edge listen address: the page and the WebSocket (LOCAL_EDGE_ADDR)")
	fs.StringVar(&c.CallbackAddr, "callback-addr", c.CallbackAddr, "svc-callback listen address (LOCAL_CALLBACK_ADDR)")
	fs.StringVar(&c.ConfAddr, "conf-addr", c.ConfAddr, "svc-conference ops HTTP address: /healthz /readyz /metrics (LOCAL_CONF_ADDR)")
	fs.StringVar(&c.SimAddr, "sim-addr", c.SimAddr, "Yuntongxun simulator listen address (LOCAL_SIM_ADDR)")
	fs.IntVar(&c.NATSPort, "nats-port", c.NATSPort, "embedded NATS client port (LOCAL_NATS_PORT)")
	fs.StringVar(&c.LogFile, "log-file", c.LogFile, "file of the services' JSON logs; default <data>/confapplet.log, with -temp $TMPDIR/confapplet-local.log (LOCAL_LOG_FILE)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (LOG_LEVEL)")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "how long to wait for every service to be ready (LOCAL_READY_TIMEOUT)")
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "LOCAL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if f.Name == "log-level" {
			name = "LOG_LEVEL"
		}
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}

// run is the whole program: parse, start everything, print where it is,
// wait for ctx (Ctrl-C) or a failing service, stop everything.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
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

// printBanner says what runs where, in at most 5 lines.
func printBanner(w io.Writer, s *stack) {
	c := s.cfg
	store := c.storeDir()
	if c.Temp {
		store = "a temporary store"
	}
	fmt.Fprintf(w, "confapplet is running: open http://localhost:%d  (Ctrl-C stops)\n", portOf(c.EdgeAddr))
	fmt.Fprintf(w, "  svc-edge %s · svc-callback %s · svc-conference ops %s · NATS %s (JetStream in %s)\n",
		c.EdgeAddr, c.CallbackAddr, c.ConfAddr, s.nats.ClientURL(), store)
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
	fmt.Fprintf(w, "  logs: %s\n", c.LogFile)
}
