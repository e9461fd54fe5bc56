package callback

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the platform's time zone must resolve in a scratch image
)

// Config holds every setting of svc-callback. Flags and environment
// variables fill it (flag wins); CONFIG.md lists them with their defaults.
type Config struct {
	// Addr is the HTTP listen address (flag -addr, env CALLBACK_ADDR).
	Addr string
	// Secret is the path secret: callbacks arrive on /yt/<Secret>/<kind>.
	// Required unless Local (then it defaults to "local").
	Secret string
	// Local enables local-development defaults (the "local" secret).
	Local bool
	// AllowCIDRs, when not empty, is the only source addresses accepted.
	AllowCIDRs []netip.Prefix
	// MaxBody bounds a callback body in bytes; larger ones get 413.
	MaxBody int64
	// TimeZone is the platform's time zone, used to validate event times.
	TimeZone string
	// NATSURL is the NATS server (used by Run only; New takes a connection).
	NATSURL string
	// LogLevel is zerolog's level name (used by Run only).
	LogLevel string
	// EventsMaxAge is how long the events stream keeps events.
	EventsMaxAge time.Duration
	// EventsReplicas is the events stream's replica count.
	EventsReplicas int
	// EventsDuplicateWindow is the stream's de-duplication window.
	EventsDuplicateWindow time.Duration
	// PublishTimeout bounds the handling of one callback against NATS
	// (reading the last event, publishing, waiting for the ack).
	PublishTimeout time.Duration
	// ShutdownTimeout bounds the graceful HTTP shutdown (Run only).
	ShutdownTimeout time.Duration
	// SeqCacheSize bounds how many conferences' latest event (seq, stream
	// seq, key) the process remembers, so a callback is published with
	// one round trip instead of a read and a publish (LRU; -1 disables,
	// 0 = the default).
	SeqCacheSize int
	// SeqCacheTTL is how long a remembered latest event is used before
	// it is read again (0 = the default).
	SeqCacheTTL time.Duration
}

// Defaults.
const (
	DefaultAddr            = ":8081"
	DefaultLocalSecret     = "local"
	DefaultMaxBody         = 64 << 10
	DefaultTimeZone        = "Asia/Shanghai"
	DefaultNATSURL         = "nats://127.0.0.1:4222"
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	DefaultEventsReplicas  = 1
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultPublishTimeout  = 5 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultSeqCacheSize    = 16384
	DefaultSeqCacheTTL     = 10 * time.Minute
)

// DefaultConfig returns the defaults; Secret is empty (set it, or set Local).
func DefaultConfig() Config {
	return Config{
		Addr:                  DefaultAddr,
		MaxBody:               DefaultMaxBody,
		TimeZone:              DefaultTimeZone,
		NATSURL:               DefaultNATSURL,
		LogLevel:              "info",
		EventsMaxAge:          DefaultEventsMaxAge,
		EventsReplicas:        DefaultEventsReplicas,
		EventsDuplicateWindow: DefaultDuplicateWindow,
		PublishTimeout:        DefaultPublishTimeout,
		ShutdownTimeout:       DefaultShutdownTimeout,
		SeqCacheSize:          DefaultSeqCacheSize,
		SeqCacheTTL:           DefaultSeqCacheTTL,
	}
}

// withDefaults fills zero fields with the defaults (and the local secret).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.MaxBody == 0 {
		c.MaxBody = d.MaxBody
	}
	if c.TimeZone == "" {
		c.TimeZone = d.TimeZone
	}
	if c.NATSURL == "" {
		c.NATSURL = d.NATSURL
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	if c.EventsMaxAge == 0 {
		c.EventsMaxAge = d.EventsMaxAge
	}
	if c.EventsReplicas == 0 {
		c.EventsReplicas = d.EventsReplicas
	}
	if c.EventsDuplicateWindow == 0 {
		c.EventsDuplicateWindow = d.EventsDuplicateWindow
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.SeqCacheSize == 0 {
		c.SeqCacheSize = d.SeqCacheSize
	}
	if c.SeqCacheTTL == 0 {
		c.SeqCacheTTL = d.SeqCacheTTL
	}
	if c.Local && c.Secret == "" {
		c.Secret = DefaultLocalSecret
	}
	return c
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if c.Secret == "" && !c.Local {
		errs = append(errs, errors.New("secret is required (CALLBACK_SECRET or -secret) unless local mode (-local)"))
	}
	if strings.ContainsAny(c.Secret, "/?#% ") {
		errs = append(errs, errors.New("secret must not contain '/', '?', '#', '%' or spaces"))
	}
	if c.MaxBody < 256 {
		errs = append(errs, fmt.Errorf("max body %d is below 256 bytes", c.MaxBody))
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("time zone %q: %w", c.TimeZone, err))
	}
	if c.EventsMaxAge < time.Minute {
		errs = append(errs, fmt.Errorf("events max age %s is below 1m", c.EventsMaxAge))
	}
	if c.EventsReplicas < 1 || c.EventsReplicas > 5 {
		errs = append(errs, fmt.Errorf("events replicas %d not in 1..5", c.EventsReplicas))
	}
	if c.EventsDuplicateWindow <= 0 || c.EventsDuplicateWindow > c.EventsMaxAge {
		errs = append(errs, fmt.Errorf("events duplicate window %s must be >0 and <= max age", c.EventsDuplicateWindow))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, errors.New("publish timeout must be > 0"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown timeout must be > 0"))
	}
	if c.SeqCacheSize < -1 {
		errs = append(errs, fmt.Errorf("seq cache size %d: use -1 to disable, or a positive size", c.SeqCacheSize))
	}
	if c.SeqCacheTTL < 0 {
		errs = append(errs, errors.New("seq cache ttl must be >= 0"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is required"))
	}
	return errors.Join(errs...)
}

// cidrList is a flag.Value for a comma-separated list of CIDRs or addresses.
type cidrList struct{ p *[]netip.Prefix }

func (l cidrList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, p := range *l.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l cidrList) Set(v string) error {
	ps, err := ParseCIDRs(v)
	if err != nil {
		return err
	}
	*l.p = ps
	return nil
}

// ParseCIDRs parses "10.0.0.0/8, 192.0.2.7, ::1" (a bare address is a /32
// or /128).
func ParseCIDRs(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("allow-cidrs: %q: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("allow-cidrs: %q: %w", f, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// options are the settings of Run that are not part of Config.
type options struct {
	healthcheck bool
	pprof       string // listen address of the pprof endpoints; "" = off
}

// parseConfig reads flags (args) over environment variables (getenv) over
// the defaults.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, options, error) {
	cfg := DefaultConfig()
	var opt options
	fs := flag.NewFlagSet("svc-callback", flag.ContinueOnError)
	fs.SetOutput(out)

	// env first: each flag's default is its env twin when set.
	var envErrs []error
	envStr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envBool := func(name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return b
	}
	envInt := func(name string, def int64) int64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return n
	}
	envDur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return d
	}

	fs.StringVar(&cfg.Addr, "addr", envStr("CALLBACK_ADDR", cfg.Addr), "HTTP listen address (CALLBACK_ADDR)")
	fs.StringVar(&cfg.Secret, "secret", envStr("CALLBACK_SECRET", ""), "path secret: /yt/<secret>/<kind> (CALLBACK_SECRET); required unless -local")
	fs.BoolVar(&cfg.Local, "local", envBool("CALLBACK_LOCAL", false), "local mode: secret defaults to \"local\" (CALLBACK_LOCAL)")
	if v := getenv("CALLBACK_ALLOW_CIDRS"); v != "" {
		ps, err := ParseCIDRs(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("CALLBACK_ALLOW_CIDRS: %w", err))
		}
		cfg.AllowCIDRs = ps
	}
	fs.Var(cidrList{&cfg.AllowCIDRs}, "allow-cidrs", "comma-separated source CIDRs allowed; empty = any (CALLBACK_ALLOW_CIDRS)")
	fs.Int64Var(&cfg.MaxBody, "max-body", envInt("CALLBACK_MAX_BODY", cfg.MaxBody), "largest callback body in bytes (CALLBACK_MAX_BODY)")
	fs.StringVar(&cfg.TimeZone, "time-zone", envStr("CALLBACK_TIME_ZONE", cfg.TimeZone), "the platform's time zone (CALLBACK_TIME_ZONE)")
	fs.StringVar(&cfg.NATSURL, "nats", envStr("NATS_URL", cfg.NATSURL), "NATS server URL(s), comma-separated (NATS_URL)")
	fs.StringVar(&cfg.LogLevel, "log-level", envStr("LOG_LEVEL", cfg.LogLevel), "debug, info, warn, error (LOG_LEVEL)")
	fs.DurationVar(&cfg.EventsMaxAge, "events-max-age", envDur("CALLBACK_EVENTS_MAX_AGE", cfg.EventsMaxAge), "how long the events stream keeps events (CALLBACK_EVENTS_MAX_AGE)")
	replicas := fs.Int("events-replicas", int(envInt("CALLBACK_EVENTS_REPLICAS", int64(cfg.EventsReplicas))), "events stream replicas (CALLBACK_EVENTS_REPLICAS)")
	fs.DurationVar(&cfg.EventsDuplicateWindow, "events-duplicate-window", envDur("CALLBACK_EVENTS_DUPLICATE_WINDOW", cfg.EventsDuplicateWindow), "window in which a retried callback is stored once (CALLBACK_EVENTS_DUPLICATE_WINDOW)")
	fs.DurationVar(&cfg.PublishTimeout, "publish-timeout", envDur("CALLBACK_PUBLISH_TIMEOUT", cfg.PublishTimeout), "bound on publishing one callback (CALLBACK_PUBLISH_TIMEOUT)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", envDur("CALLBACK_SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout), "graceful shutdown bound (CALLBACK_SHUTDOWN_TIMEOUT)")
	fs.IntVar(&cfg.SeqCacheSize, "seq-cache-size", int(envInt("CALLBACK_SEQ_CACHE_SIZE", int64(cfg.SeqCacheSize))), "conferences whose latest event is remembered for one-round-trip publishes; -1 disables (CALLBACK_SEQ_CACHE_SIZE)")
	fs.DurationVar(&cfg.SeqCacheTTL, "seq-cache-ttl", envDur("CALLBACK_SEQ_CACHE_TTL", cfg.SeqCacheTTL), "how long a remembered latest event is used before it is read again (CALLBACK_SEQ_CACHE_TTL)")
	fs.StringVar(&opt.pprof, "pprof", envStr("CALLBACK_PPROF", ""), "listen address for /debug/pprof/ (e.g. 127.0.0.1:6061); empty = off (CALLBACK_PPROF)")
	fs.BoolVar(&opt.healthcheck, "healthcheck", false, "GET /healthz on -addr and exit 0 (healthy) or 1 (for Docker HEALTHCHECK)")

	if err := errors.Join(envErrs...); err != nil {
		return cfg, opt, err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, opt, err
	}
	if fs.NArg() > 0 {
		return cfg, opt, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.EventsReplicas = *replicas
	return cfg.withDefaults(), opt, nil
}
