package ytxsim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/logging"
	"confapplet/pkg/ops"
)

// DefaultAddr is where the simulator listens by default: the platform's own
// port (API.md §1).
const DefaultAddr = ":8883"

// Run is the simulator command (deploy/ytxsim): it parses args (flags win
// over environment variables), serves the simulator until ctx ends, then
// shuts down. With -healthcheck it only GETs /healthz of a running
// simulator and returns an error unless it answers 200, for Docker.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ytxsim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var envErrs []error
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("SIM_ADDR", DefaultAddr), "listen address (SIM_ADDR)")
	notify := fs.String("notify-url", env("SIM_NOTIFY_URL", ""), "the app's notification address callbacks go to, e.g. http://127.0.0.1:8081/yt/secret; empty sends none (SIM_NOTIFY_URL)")
	sid := fs.String("account-sid", env("YTX_ACCOUNT_SID", DefaultAccountSID), "account SID accepted (YTX_ACCOUNT_SID)")
	token := fs.String("auth-token", env("YTX_AUTH_TOKEN", DefaultAuthToken), "auth token accepted (YTX_AUTH_TOKEN)")
	app := fs.String("app-id", env("YTX_APP_ID", DefaultAppID), "app id accepted (YTX_APP_ID)")
	format := fs.String("callback-format", env("SIM_CALLBACK_FORMAT", string(FormatDefault)), fmt.Sprintf("callback envelope, one of %v (SIM_CALLBACK_FORMAT)", CallbackFormats))
	callIDField := fs.String("callback-callid-field", env("SIM_CALLBACK_CALLID_FIELD", "callSid"), "name of the call id field in callbacks: callSid or callid (SIM_CALLBACK_CALLID_FIELD)")
	latency := fs.Duration("latency", envDuration(getenv, &envErrs, "SIM_LATENCY", 0), "delay of every platform answer (SIM_LATENCY)")
	tail := fs.Duration("tail-latency", envDuration(getenv, &envErrs, "SIM_TAIL_LATENCY", 0), "delay of the slow share of answers (SIM_TAIL_LATENCY)")
	ratio := fs.Float64("tail-ratio", envFloat(getenv, &envErrs, "SIM_TAIL_RATIO", 0), "share of answers that take -tail-latency, 0..1 (SIM_TAIL_RATIO)")
	retries := fs.Int("retries", envInt(getenv, &envErrs, "SIM_RETRIES", DefaultRetries), "retries of a failed callback; 0 = none (SIM_RETRIES)")
	backoff := fs.Duration("retry-backoff", envDuration(getenv, &envErrs, "SIM_RETRY_BACKOFF", DefaultRetryBackoff), "wait before the first callback retry, doubling (SIM_RETRY_BACKOFF)")
	autoDel := fs.Duration("auto-delete-after", envDuration(getenv, &envErrs, "SIM_AUTO_DELETE_AFTER", DefaultAutoDeleteAfter), "delete a conference nobody joined after this long (SIM_AUTO_DELETE_AFTER)")
	rulesFile := fs.String("rules-file", env("SIM_RULES_FILE", ""), "JSON file of call-progress rules replacing the defaults (SIM_RULES_FILE)")
	logLevel := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn, error (LOG_LEVEL)")
	healthcheck := fs.Bool("healthcheck", false, "GET /healthz of the simulator at -addr and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(envErrs) > 0 {
		return fmt.Errorf("environment: %w", errors.Join(envErrs...))
	}
	if *healthcheck {
		return ops.Healthcheck(ctx, *addr)
	}
	cf, err := ParseCallbackFormat(*format)
	if err != nil {
		return err
	}
	if *callIDField != "callSid" && *callIDField != "callid" {
		return fmt.Errorf("-callback-callid-field %q: want callSid or callid", *callIDField)
	}
	if *ratio < 0 || *ratio > 1 {
		return fmt.Errorf("-tail-ratio %v: want 0..1", *ratio)
	}
	r := *retries
	if r == 0 {
		r = -1 // Config: negative = never; the flag's 0 means none
	}
	var rules []Rule
	if *rulesFile != "" {
		b, err := os.ReadFile(*rulesFile)
		if err != nil {
			return fmt.Errorf("rules file: %w", err)
		}
		if err := json.Unmarshal(b, &rules); err != nil {
			return fmt.Errorf("rules file %s: %w", *rulesFile, err)
		}
		if _, err := compileRules(rules); err != nil {
			return fmt.Errorf("rules file %s: %w", *rulesFile, err)
		}
	}
	log := logging.New(stdout, *logLevel, "ytxsim")
	sim := New(Config{
		AccountSID: *sid, AuthToken: *token, AppID: *app, NotifyBaseURL: *notify,
		Format: cf, CallIDField: *callIDField, Retries: r, RetryBackoff: *backoff, Latency: *latency, TailLatency: *tail, TailRatio: *ratio,
		Rules: rules, AutoDeleteAfter: *autoDel, Logger: log,
	})
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if *notify == "" {
		log.Warn().Msg("no notification address (-notify-url / SIM_NOTIFY_URL): callbacks are not sent")
	}
	log.Info().Str("addr", ln.Addr().String()).Str("base_url", "http://"+ln.Addr().String()+"/"+Version).
		Str("notify_url", *notify).Str("callback_format", string(cf)).Msg("simulator listening")
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info().Msg("simulator stopped")
	return nil
}

func envDuration(getenv func(string) string, errs *[]error, name string, def time.Duration) time.Duration {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
		*errs = append(*errs, fmt.Errorf("%s=%q: %w", name, v, err))
	}
	return def
}

func envInt(getenv func(string) string, errs *[]error, name string, def int) int {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
		*errs = append(*errs, fmt.Errorf("%s=%q: %w", name, v, err))
	}
	return def
}

func envFloat(getenv func(string) string, errs *[]error, name string, def float64) float64 {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil {
			return f
		}
		*errs = append(*errs, fmt.Errorf("%s=%q: %w", name, v, err))
	}
	return def
}
