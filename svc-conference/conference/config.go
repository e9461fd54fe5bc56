package conference

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"
	"confapplet/pkg/ytxsim"
	"confapplet/pkg/yuntongxun"
)

// Default allow-list: every invite dials a paid call, so only mainland
// China mobile numbers and landlines with their area code. Beijing (010)
// and the 02x cities have 8-digit local numbers; the 3-digit area codes 03xx–09xx have 7- or 8-digit
// ones. Local numbers never start with 0 or 1. Service numbers (400/800,
// short codes), international prefixes (00…, +…) and VoIP accounts are
// refused unless an operator adds a pattern for them.
var DefaultAllowNumbers = []string{
	`^1[3-9][0-9]{9}$`,
	`^0(10|2[0-9])[2-9][0-9]{7}$`,
	`^0[3-9][0-9]{2}[2-9][0-9]{6,7}$`,
}

// Config is everything the conference service needs; each field is the
// setting declare describes (flag, environment twin, meaning). Tests build
// it from DefaultConfig and change what they need.
type Config struct {
	NATSURL, HTTPAddr, LogLevel, InstanceName string
	LogFullNumbers                            bool

	// Platform (Yuntongxun REST).
	YTXBaseURL, YTXAccountSID, YTXAuthToken, YTXAppID string
	YTXTimeout                                        time.Duration
	TimeZone                                          string
	// YTXCallbackBaseURL "" sends relative callback URLs (the bare kind);
	// docs/yuntongxun.md says why.
	YTXCallbackBaseURL string
	// YTXCAFile and YTXInsecureSkipVerify set the platform's TLS (tls.go).
	YTXCAFile             string
	YTXInsecureSkipVerify bool
	// YTXStatusClasses (yuntongxun.ParseStatusClasses) adds statusCodes
	// learned on first contact to the built-in table.
	YTXStatusClasses string

	OperatorToken  string
	Concurrency    int
	DefaultTimeout time.Duration

	// State.
	KVReplicas, EventsReplicas       int // EventsReplicas 0 = KVReplicas
	IdempotencyTTL, IdempotencyStale time.Duration
	StateMaxAge                      time.Duration // conference records and owner keys (retention.go)
	Consumer                         string
	EventWorkers                     int
	MissingRecordRetries             int
	MissingRecordDelay               time.Duration

	// Toll-fraud guard.
	AllowNumbers                       []string // anchored regular expressions; a number must match one
	MaxNumbersPerCall                  int
	InviteRatePerSec, GlobalRatePerSec float64 // 0 disables
	InviteBurst, GlobalBurst           int
	MaxConfsPerClient                  int // 0 disables
	DefaultMaxMember                   int
	MinMemberLimit, MaxMemberLimit     int

	ShutdownGrace, StartTimeout time.Duration
	ViewMaxRecords              int            // 0 turns the in-memory view (view.go) off
	HTTP                        svc.HTTPLimits // the ops listener's
	Pprof                       string
	Healthcheck                 bool

	compiledAllowNumbers []*regexp.Regexp
	statusClasses        map[string]yuntongxun.Class

	// Call budget (budget.go): all instances together, and per source
	// address; 0 disables each.
	CallsPerMinute, ConfsPerMinute, MaxLiveCalls int
	SourceCallsPerMinute, SourceConfsPerMinute   int

	// Tracing is the OpenTelemetry settings; Run builds Tracer from them.
	// A Tracer set before (tests) is used as it is; nil is off.
	Tracing tracing.Config
	Tracer  *tracing.Provider `json:"-"`
}

// DefaultConfig returns the defaults, which run against the simulator on
// its default address and a local NATS.
func DefaultConfig() Config {
	return Config{
		NATSURL:  "nats://127.0.0.1:4222",
		HTTPAddr: ":8082",
		LogLevel: "info",
		// The simulator on its default address, with the credentials it
		// accepts by default (deploy/ytxsim): the local stack needs no
		// platform account.
		YTXBaseURL:           "http://127.0.0.1:8883/" + ytxsim.Version,
		YTXAccountSID:        ytxsim.DefaultAccountSID,
		YTXAuthToken:         ytxsim.DefaultAuthToken,
		YTXAppID:             ytxsim.DefaultAppID,
		YTXTimeout:           5 * time.Second,
		TimeZone:             "Asia/Shanghai",
		Concurrency:          64,
		DefaultTimeout:       10 * time.Second,
		KVReplicas:           1,
		IdempotencyTTL:       24 * time.Hour,
		StateMaxAge:          DefaultStateMaxAge,
		IdempotencyStale:     30 * time.Second,
		Consumer:             "conference-state",
		EventWorkers:         8,
		MissingRecordRetries: 10,
		MissingRecordDelay:   200 * time.Millisecond,
		AllowNumbers:         append([]string(nil), DefaultAllowNumbers...),
		MaxNumbersPerCall:    10,
		InviteRatePerSec:     1,
		InviteBurst:          10,
		GlobalRatePerSec:     300,
		GlobalBurst:          600,
		MaxConfsPerClient:    5,
		DefaultMaxMember:     10,
		MaxMemberLimit:       300,
		MinMemberLimit:       3,
		ShutdownGrace:        10 * time.Second,
		StartTimeout:         time.Minute,
		ViewMaxRecords:       100000,
		HTTP:                 svc.DefaultLimits,
		Tracing:              tracing.DefaultConfig(),

		// Conservative: an operator raises them on purpose (CONFIG.md).
		CallsPerMinute:       30,
		ConfsPerMinute:       30,
		MaxLiveCalls:         60,
		SourceCallsPerMinute: 20,
		SourceConfsPerMinute: 20,
	}
}

// Validate checks c and compiles its allow-list.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NATSURL == "" {
		bad("nats: URL required")
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("http-addr %q: %v", c.HTTPAddr, err)
		}
	}
	if c.Concurrency < 1 {
		bad("concurrency must be ≥ 1")
	}
	if c.DefaultTimeout <= 0 {
		bad("default-timeout must be > 0")
	}
	if c.ShutdownGrace <= 0 {
		bad("shutdown-grace must be > 0")
	}
	if c.ViewMaxRecords < 0 {
		bad("view-max-records must be ≥ 0 (0 disables the view)")
	}
	if c.StartTimeout <= 0 {
		bad("start-timeout must be > 0")
	}
	if c.HTTP == (svc.HTTPLimits{}) {
		c.HTTP = svc.DefaultLimits
	}
	if c.HTTP.ReadHeader <= 0 || c.HTTP.Idle <= 0 {
		bad("read-header-timeout and idle-timeout must be > 0")
	}
	c.validatePlatform(bad)
	c.validateStorage(bad)
	c.validateGuard(bad)
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validatePlatform checks the platform settings: credentials, TLS, status classes, callback URLs, time zone.
func (c *Config) validatePlatform(bad func(string, ...any)) {
	if c.YTXBaseURL == "" || c.YTXAccountSID == "" || c.YTXAuthToken == "" || c.YTXAppID == "" {
		bad("ytx-base-url, ytx-account-sid, ytx-auth-token and ytx-app-id are required")
	}
	if c.YTXTimeout <= 0 {
		bad("ytx-timeout must be > 0")
	}
	if c.YTXCAFile != "" && c.YTXInsecureSkipVerify {
		bad("ytx-ca-file and ytx-insecure-skip-verify contradict each other: set one")
	}
	if c.YTXCAFile != "" {
		if _, err := platformTLS(*c); err != nil {
			bad("%v", err)
		}
	}
	if cls, err := yuntongxun.ParseStatusClasses(c.YTXStatusClasses); err != nil {
		bad("ytx-status-classes: %v", err)
	} else {
		c.statusClasses = cls
	}
	if c.YTXCallbackBaseURL != "" {
		if u, err := url.Parse(c.YTXCallbackBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("ytx-callback-base-url %q: want an absolute http(s) URL without query, e.g. https://cb.example.com/yt/<secret>", c.YTXCallbackBaseURL)
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("time-zone %q: %v", c.TimeZone, err)
		}
	}
}

// validateStorage checks the JetStream settings: replicas, retention, idempotency, the event consumer.
func (c *Config) validateStorage(bad func(string, ...any)) {
	if c.KVReplicas < 1 || c.KVReplicas > 5 {
		bad("kv-replicas must be 1..5")
	}
	if c.EventsReplicas == 0 {
		c.EventsReplicas = c.KVReplicas
	}
	if c.EventsReplicas < 1 || c.EventsReplicas > 5 {
		bad("events-replicas must be 1..5 (0: as kv-replicas)")
	}
	if c.StateMaxAge < time.Second {
		bad("state-max-age must be ≥ 1s")
	}
	if c.IdempotencyTTL <= 0 || c.IdempotencyStale <= 0 {
		bad("idempotency-ttl and idempotency-stale must be > 0")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(c.Consumer) {
		bad("consumer %q: letters, digits, - and _ only", c.Consumer)
	}
	if c.EventWorkers < 1 {
		bad("event-workers must be ≥ 1")
	}
	if c.MissingRecordRetries < 0 || c.MissingRecordDelay <= 0 {
		bad("missing-record-retries ≥ 0 and missing-record-delay > 0 required")
	}
}

// validateGuard checks the toll-fraud guard and the call budgets, and compiles the number allow-list.
func (c *Config) validateGuard(bad func(string, ...any)) {
	if len(c.AllowNumbers) == 0 {
		bad("allow-numbers: at least one pattern required (every invite would be refused)")
	}
	c.compiledAllowNumbers = c.compiledAllowNumbers[:0]
	for _, p := range c.AllowNumbers {
		re, err := regexp.Compile(p)
		if err != nil {
			bad("allow-numbers %q: %v", p, err)
			continue
		}
		if !strings.HasPrefix(p, "^") || !strings.HasSuffix(p, "$") {
			bad("allow-numbers %q: must be anchored with ^ and $", p)
			continue
		}
		c.compiledAllowNumbers = append(c.compiledAllowNumbers, re)
	}
	if c.MaxNumbersPerCall < 1 {
		bad("max-numbers-per-call must be ≥ 1")
	}
	if c.InviteRatePerSec < 0 || c.GlobalRatePerSec < 0 {
		bad("rate limits must be ≥ 0 (0 disables)")
	}
	if c.InviteRatePerSec > 0 && c.InviteBurst < 1 || c.GlobalRatePerSec > 0 && c.GlobalBurst < 1 {
		bad("bursts must be ≥ 1 when their rate is set")
	}
	if c.MaxConfsPerClient < 0 {
		bad("max-confs-per-client must be ≥ 0 (0 disables)")
	}
	if c.MinMemberLimit < 1 || c.MaxMemberLimit < c.MinMemberLimit {
		bad("min-member/max-member limits: 1 ≤ min ≤ max")
	}
	if c.DefaultMaxMember < c.MinMemberLimit || c.DefaultMaxMember > c.MaxMemberLimit {
		bad("default-max-member %d outside %d..%d", c.DefaultMaxMember, c.MinMemberLimit, c.MaxMemberLimit)
	}
	if c.CallsPerMinute < 0 || c.ConfsPerMinute < 0 || c.MaxLiveCalls < 0 || c.SourceCallsPerMinute < 0 || c.SourceConfsPerMinute < 0 {
		bad("call budgets must be ≥ 0 (0 disables)")
	}
	if c.MaxLiveCalls > 0 && c.ViewMaxRecords == 0 {
		bad("max-live-calls counts calls in the in-memory view: view-max-records must be > 0")
	}
}

// location is the platform's time zone.
func (c *Config) location() *time.Location {
	if c.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// declare declares every setting of c on f: the flag, its environment
// twin (CONF_FOO_BAR for -foo-bar; NATS_URL, LOG_LEVEL and the platform's
// YTX_* keep their workspace-wide names) and its one description.
func (c *Config) declare(f *svc.Flags, allow *string) {
	f.NATS(&c.NATSURL)
	f.String(&c.HTTPAddr, "http-addr", "ops listener (`/healthz`, `/readyz`, `/metrics`); empty disables")
	f.LogLevel(&c.LogLevel)
	f.LogFullNumbers(&c.LogFullNumbers)
	f.String(&c.InstanceName, "instance", "instance name in logs, NATS connection name, micro metadata", svc.DocDefault("host name"))
	f.String(&c.YTXBaseURL, "ytx-base-url", "platform REST prefix; production `https://app.cloopen.com:8883/2013-12-26`", svc.Env("YTX_BASE_URL"))
	f.String(&c.YTXAccountSID, "ytx-account-sid", "platform account SID", svc.Env("YTX_ACCOUNT_SID"), svc.DocDefault("the simulator's default"))
	f.String(&c.YTXAuthToken, "ytx-auth-token", "platform auth token", svc.Env("YTX_AUTH_TOKEN"), svc.DocDefault("the simulator's default"))
	f.String(&c.YTXAppID, "ytx-app-id", "platform app id", svc.Env("YTX_APP_ID"), svc.DocDefault("the simulator's default"))
	f.Duration(&c.YTXTimeout, "ytx-timeout", "one platform HTTP exchange (the caller's deadline applies too)")
	f.String(&c.YTXCallbackBaseURL, "ytx-callback-base-url", "empty: the commands carry relative callback URLs (the bare kind, `joined`, no leading `/`) joined by the platform to the console's notification address; set to svc-callback's public `https://host/yt/<secret>` for absolute ones (docs/yuntongxun.md, \"Callback addresses\")", svc.Env("YTX_CALLBACK_BASE_URL"))
	f.String(&c.YTXCAFile, "ytx-ca-file", "PEM bundle that **replaces** the system roots for the platform's certificate (a pinned or corporate CA)", svc.Env("YTX_CA_FILE"), svc.DocDefault("empty (system roots)"))
	f.Bool(&c.YTXInsecureSkipVerify, "ytx-insecure-skip-verify", "do not verify the platform's certificate, as its own SDKs do; only for a sandbox that cannot be verified: logged as a `warn` at start, contradicts `-ytx-ca-file`. Anyone on the path could read and forge platform traffic", svc.Env("YTX_INSECURE_SKIP_VERIFY"))
	f.String(&c.YTXStatusClasses, "ytx-status-classes", "what platform statusCodes mean beyond the built-in table of both generations, e.g. `111314=conf_not_found,111315=call_not_found` (classes `refused auth balance busy request conf_not_found call_not_found conf_full`): for codes learned on first contact, no rebuild needed", svc.Env("YTX_STATUS_CLASSES"))
	f.String(&c.TimeZone, "time-zone", "the platform's time zone, for `createtime`/`invitetime` (tz data is embedded)")
	f.String(&c.OperatorToken, "operator-token", "a caller presenting it in `Confapplet-Operator` may act on any conference (constant-time compare)", svc.DocDefault("empty (no operator)"))
	f.Int(&c.Concurrency, "concurrency", "requests one instance executes at once (the worker pool)")
	f.Duration(&c.DefaultTimeout, "default-timeout", "deadline when `Confapplet-Deadline` is absent and the method has no contract timeout")
	f.Int(&c.KVReplicas, "kv-replicas", "replicas of the three KV buckets (3 in a cluster)")
	f.Int(&c.EventsReplicas, "events-replicas", "replicas of `CONF_EVENTS` if this service has to create it, and of the consumer", svc.DocDefault("`0` = as kv-replicas"))
	f.String(&c.Consumer, "consumer", "durable consumer name, shared by all instances")
	f.Int(&c.EventWorkers, "event-workers", "events applied in parallel per instance (one conference always on one worker)")
	f.Int(&c.MissingRecordRetries, "missing-record-retries", "redeliveries of an event whose conference has no record yet")
	f.Duration(&c.MissingRecordDelay, "missing-record-delay", "NakWithDelay between them")
	f.Duration(&c.IdempotencyTTL, "idempotency-ttl", "how long idempotency keys are remembered (bucket TTL)")
	f.Duration(&c.StateMaxAge, "state-max-age", "how long a conference's record (members' numbers included) and its owner key are kept after their last change, and a finished conference's call record after its end (bucket TTL); then they are gone")
	f.Duration(&c.IdempotencyStale, "idempotency-stale", "an unfinished request older than this may be taken over by its retry")
	f.String(allow, "allow-numbers", "allowed number patterns, Go regexps anchored with `^…$`, separated by spaces or `;`", svc.DocDefault("see below"))
	f.Int(&c.MaxNumbersPerCall, "max-numbers-per-call", "numbers in one `#`-joined `InviteJoinConf`")
	f.Float64(&c.InviteRatePerSec, "invite-rate", "dialled numbers per second per client (one bucket in KV for all instances); 0 disables")
	f.Int(&c.InviteBurst, "invite-burst", "its burst")
	f.Float64(&c.GlobalRatePerSec, "global-invite-rate", "dialled numbers per second, all clients, all instances together (one bucket in KV); 0 disables")
	f.Int(&c.GlobalBurst, "global-invite-burst", "its burst")
	f.Int(&c.MaxConfsPerClient, "max-confs-per-client", "live conferences one client may own; 0 disables")
	f.Int(&c.CallsPerMinute, "calls-per-minute", "**call budget**: calls started per minute by all instances together, whatever the number of client ids (budget.go, \"The call budget\" below); 0 disables")
	f.Int(&c.ConfsPerMinute, "confs-per-minute", "conferences created per minute by all instances together; 0 disables")
	f.Int(&c.MaxLiveCalls, "max-live-calls", "calls ringing or joined at once in the whole service; 0 disables (needs the view)")
	f.Int(&c.SourceCallsPerMinute, "source-calls-per-minute", "calls started per minute from one source address (IPv4, or IPv6 /64; the edge passes it); 0 disables")
	f.Int(&c.SourceConfsPerMinute, "source-confs-per-minute", "conferences created per minute from one source address; 0 disables")
	f.Int(&c.DefaultMaxMember, "default-max-member", "`maxmember` of a `CreateConf` without one")
	f.Int(&c.MinMemberLimit, "min-member-limit", "smallest `maxmember` accepted (the platform's)")
	f.Int(&c.MaxMemberLimit, "max-member-limit", "largest `maxmember` accepted (the platform's)")
	f.Duration(&c.ShutdownGrace, "shutdown-grace", "how long in-flight requests may finish on shutdown (the whole shutdown, NATS drain included, is capped at this + 5s)")
	f.Int(&c.ViewMaxRecords, "view-max-records", "conference records held in memory for the read methods (see \"Reads from the in-memory view\"); 0 turns the view off (every read is a KV get)")
	f.String(&c.Pprof, "pprof", "listen address of Go's profiles (`/debug/pprof/profile?seconds=N`, `/debug/pprof/heap`, `goroutine`, `allocs`, `mutex`, `block`), on a listener of its own; keep it on 127.0.0.1; empty: off")
	f.Duration(&c.StartTimeout, "start-timeout", "how long start-up keeps retrying to create or bind the KV buckets, the events stream and the consumer (5 s attempts, backoff); then `Run` fails")
	c.HTTP.Declare(f)
	c.Tracing.Declare(f)
	f.Healthcheck(&c.Healthcheck, "http-addr")
}

// parseConfig fills a Config from args over getenv over the defaults; -h
// prints the settings to out and returns svc.ErrHelp.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	f, allow := c.flags()
	if err := f.Parse(args, getenv, out); err != nil {
		return c, err
	}
	c.AllowNumbers = strings.FieldsFunc(*allow, func(r rune) bool { return r == ';' || r == ' ' || r == '\n' || r == '\t' })
	return c, nil
}

// flags declares c's settings; allow receives the allow-list as one string.
func (c *Config) flags() (*svc.Flags, *string) {
	f := svc.NewFlags("svc-conference", "CONF_")
	allow := strings.Join(c.AllowNumbers, " ")
	c.declare(f, &allow)
	return f, &allow
}

// methodTimeout is the default deadline of method.
func (c *Config) methodTimeout(method string) time.Duration {
	if m, ok := contract.Methods[method]; ok && m.Timeout > 0 {
		return m.Timeout
	}
	return c.DefaultTimeout
}
