package ytxsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"confapplet/pkg/logging"
	"confapplet/pkg/svc"
)

// DefaultAddr is where the simulator listens by default: the real
// platform's REST port (app.cloopen.com:8883), so only the host changes
// between the two.
const DefaultAddr = ":8883"

// runConfig is the simulator command's settings.
type runConfig struct {
	addr, notify, sid, token, app, format, callIDField, rulesFile, logLevel string
	latency, tail, backoff, autoDel                                         time.Duration
	ratio                                                                   float64
	inviteNoResult                                                          bool
	retries                                                                 int
	http                                                                    svc.HTTPLimits
	healthcheck, logFullNumbers                                             bool
}

// flags declares the settings of c, each described once (docs/yuntongxun.md
// renders its table from them).
func (c *runConfig) flags() *svc.Flags {
	f := svc.NewFlags("ytxsim", "SIM_")
	f.String(&c.addr, "addr", "listen address")
	f.String(&c.notify, "notify-url", "the app's notification address callbacks go to, e.g. `http://127.0.0.1:8081/yt/secret`; empty sends no callbacks (logged)")
	f.String(&c.sid, "account-sid", "account SID accepted", svc.Env("YTX_ACCOUNT_SID"))
	f.String(&c.token, "auth-token", "auth token accepted", svc.Env("YTX_AUTH_TOKEN"))
	f.String(&c.app, "app-id", "app id accepted", svc.Env("YTX_APP_ID"))
	f.String(&c.format, "callback-format", fmt.Sprintf("callback envelope, one of %v (see below)", CallbackFormats))
	f.String(&c.callIDField, "callback-callid-field", "name of the call id field in callbacks: `callSid` or `callid`")
	f.Bool(&c.inviteNoResult, "invite-without-result", "invitation results carry no `result` (confid, callSid, number, jointime only): only the join notification says a call was answered")
	f.Duration(&c.latency, "latency", "delay of every platform answer (real time)")
	f.Duration(&c.tail, "tail-latency", "delay of the slow share of answers")
	f.Float64(&c.ratio, "tail-ratio", "share of answers that take -tail-latency, 0..1")
	f.Int(&c.retries, "retries", "retries of a failed callback; 0 = none")
	f.Duration(&c.backoff, "retry-backoff", "wait before the first callback retry, doubling")
	f.Duration(&c.autoDel, "auto-delete-after", "delete a conference nobody joined after this long")
	f.String(&c.rulesFile, "rules-file", "JSON file of call-progress rules replacing the defaults")
	f.LogLevel(&c.logLevel)
	f.LogFullNumbers(&c.logFullNumbers)
	c.http.Declare(f)
	f.Healthcheck(&c.healthcheck, "addr")
	return f
}

func defaultRunConfig() runConfig {
	return runConfig{addr: DefaultAddr, sid: DefaultAccountSID, token: DefaultAuthToken, app: DefaultAppID,
		format: string(FormatDefault), callIDField: "callSid", retries: DefaultRetries, backoff: DefaultRetryBackoff,
		autoDel: DefaultAutoDeleteAfter, logLevel: "info", http: svc.DefaultLimits}
}

// Run is the simulator command (deploy/ytxsim): it parses args (flags win
// over environment variables), serves the simulator until ctx ends, then
// shuts down. With -healthcheck it only GETs /healthz of a running
// simulator and returns an error unless it answers 200, for Docker.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := defaultRunConfig()
	if err := c.flags().Parse(args, getenv, stdout); err != nil {
		return err
	}
	if c.healthcheck {
		return svc.Healthcheck(ctx, c.addr)
	}
	cf, err := ParseCallbackFormat(c.format)
	if err != nil {
		return err
	}
	if c.callIDField != "callSid" && c.callIDField != "callid" {
		return fmt.Errorf("-callback-callid-field %q: want callSid or callid", c.callIDField)
	}
	if c.ratio < 0 || c.ratio > 1 {
		return fmt.Errorf("-tail-ratio %v: want 0..1", c.ratio)
	}
	r := c.retries
	if r == 0 {
		r = -1 // Config: negative = never; the flag's 0 means none
	}
	var rules []Rule
	if c.rulesFile != "" {
		b, err := os.ReadFile(c.rulesFile)
		if err != nil {
			return fmt.Errorf("rules file: %w", err)
		}
		if err := json.Unmarshal(b, &rules); err != nil {
			return fmt.Errorf("rules file %s: %w", c.rulesFile, err)
		}
		if _, err := compileRules(rules); err != nil {
			return fmt.Errorf("rules file %s: %w", c.rulesFile, err)
		}
	}
	log := logging.New(stdout, c.logLevel, "ytxsim", logging.FullNumbers(c.logFullNumbers))
	sim := New(Config{
		AccountSID: c.sid, AuthToken: c.token, AppID: c.app, NotifyBaseURL: c.notify,
		Format: cf, CallIDField: c.callIDField, InviteWithoutResult: c.inviteNoResult, Retries: r, RetryBackoff: c.backoff, Latency: c.latency, TailLatency: c.tail, TailRatio: c.ratio,
		Rules: rules, AutoDeleteAfter: c.autoDel, Logger: log,
	})
	defer sim.Close()
	p := svc.NewProcess(log)
	addr, err := p.Listen("simulator listening", c.addr, sim, c.http)
	if err != nil {
		return err
	}
	if c.notify == "" {
		log.Warn().Msg("no notification address (-notify-url / SIM_NOTIFY_URL): callbacks are not sent")
	}
	log.Info().Str("base_url", "http://"+addr+"/"+Version).Str("notify_url", c.notify).Str("callback_format", string(cf)).Msg("simulator started")
	return p.Run(ctx, svc.Stop{Cap: 5 * time.Second})
}
