package callback

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	_ "time/tzdata" // the platform's time zone must resolve in a scratch image

	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"
)

// Config holds every setting of svc-callback that New uses; each field is
// the setting declare describes (flag, environment twin, meaning). A zero
// field takes its default (withDefaults), except SeqCacheSize -1, which
// turns the cache off.
type Config struct {
	Addr                  string
	Secret                string // required unless Local
	Local                 bool
	AllowCIDRs            []netip.Prefix // empty: any source
	MaxBody               int64
	TimeZone              string
	NATSURL, LogLevel     string // Run only: New takes a connection and a logger
	LogFullNumbers        bool   // Run only
	EventsMaxAge          time.Duration
	EventsReplicas        int
	EventsDuplicateWindow time.Duration // also the raw stream's
	RawMaxAge             time.Duration // raw.go
	RawMaxBytes           int64         // -1: no bound
	PublishTimeout        time.Duration
	SpoolDir              string // "" = no spool: an unavailable store → 503 (spool.go)
	SpoolMaxBytes         int64
	ShutdownTimeout       time.Duration // Run only
	SeqCacheSize          int
	SeqCacheTTL           time.Duration

	// Tracing is the OpenTelemetry settings; Run builds Tracer from them
	// (a zero Tracing is off). A Tracer set before (tests) is used as it
	// is; nil is off.
	Tracing tracing.Config
	Tracer  *tracing.Provider `json:"-"`
}

// Defaults.
const (
	DefaultAddr            = ":8081"
	DefaultLocalSecret     = "local"
	DefaultMaxBody         = 64 << 10
	DefaultTimeZone        = "Asia/Shanghai"
	DefaultNATSURL         = "nats://127.0.0.1:4222"
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	DefaultRawMaxAge       = 7 * 24 * time.Hour // as the events: raw bodies hold numbers (docs/operations.md, "Personal data")
	DefaultRawMaxBytes     = 1 << 30
	DefaultEventsReplicas  = 1
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultPublishTimeout  = 5 * time.Second
	DefaultSpoolMaxBytes   = 256 << 20
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
		RawMaxAge:             DefaultRawMaxAge,
		RawMaxBytes:           DefaultRawMaxBytes,
		PublishTimeout:        DefaultPublishTimeout,
		SpoolMaxBytes:         DefaultSpoolMaxBytes,
		ShutdownTimeout:       DefaultShutdownTimeout,
		SeqCacheSize:          DefaultSeqCacheSize,
		SeqCacheTTL:           DefaultSeqCacheTTL,
		Tracing:               tracing.DefaultConfig(),
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
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = d.SpoolMaxBytes
	}
	if c.RawMaxAge == 0 {
		c.RawMaxAge = d.RawMaxAge
	}
	if c.RawMaxBytes == 0 {
		c.RawMaxBytes = d.RawMaxBytes
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
	if c.SpoolMaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("spool max bytes %d is below 1 MiB", c.SpoolMaxBytes))
	}
	if c.RawMaxAge < time.Hour {
		errs = append(errs, fmt.Errorf("raw max age %s is below 1h", c.RawMaxAge))
	}
	if c.RawMaxBytes != -1 && c.RawMaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("raw max bytes %d: use -1 for no bound, or at least 1 MiB", c.RawMaxBytes))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown timeout must be > 0"))
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
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
	opsAddr     string // the ops listener (/healthz, /readyz, /metrics); "" = none
	pprof       string // listen address of the pprof endpoints; "" = off
	http        svc.HTTPLimits
}

// declare declares every setting on f: the flag, its environment twin
// (CALLBACK_FOO_BAR for -foo-bar) and its one description.
func (c *Config) declare(f *svc.Flags, o *options) {
	f.String(&c.Addr, "addr", "listen address of the platform's callbacks (`/yt/<secret>/<kind>`), `/healthz` and `/readyz` (never `/metrics` or pprof)")
	f.String(&o.opsAddr, "ops-addr", "ops listener: `/healthz`, `/readyz`, `/metrics`; keep it on loopback or an internal network; empty: none")
	f.String(&c.Secret, "secret", "path secret: callbacks go to `/yt/<secret>/<kind>`. **Required** unless local mode. No `/ ? # %` or spaces.", svc.DocDefault("(none)"))
	f.Bool(&c.Local, "local", "local mode: the secret defaults to `local`")
	f.Var(cidrList{&c.AllowCIDRs}, "allow-cidrs", "comma-separated CIDRs or addresses allowed to call; others get 403. Checked against the TCP peer address (behind a proxy that is the proxy).", svc.DocDefault("(empty = any)"))
	f.Int64(&c.MaxBody, "max-body", "largest body in bytes; larger → 413")
	f.String(&c.TimeZone, "time-zone", "the platform's time zone (event times are validated in it; tz data is embedded)")
	f.NATS(&c.NATSURL)
	f.LogLevel(&c.LogLevel)
	f.LogFullNumbers(&c.LogFullNumbers)
	f.Duration(&c.EventsMaxAge, "events-max-age", "how long `CONF_EVENTS` keeps events (replay window for reconnecting browsers)")
	f.Int(&c.EventsReplicas, "events-replicas", "replicas of `CONF_EVENTS` (3 in a cluster)")
	f.Duration(&c.EventsDuplicateWindow, "events-duplicate-window", "JetStream de-duplication window for platform retries")
	f.Duration(&c.RawMaxAge, "raw-max-age", "how long `CALLBACK_RAW` keeps every callback as received (so how long one not understood can be re-processed)")
	f.Int64(&c.RawMaxBytes, "raw-max-bytes", "size bound of `CALLBACK_RAW`, oldest callbacks dropped first; `-1` = none. Must fit the NATS server's `max_file_store`")
	f.Duration(&c.PublishTimeout, "publish-timeout", "bound on storing one callback; past it → spooled (with a spool) or 503")
	f.String(&c.SpoolDir, "spool-dir", "directory on local disk (a volume in a container) where callbacks that arrive while the event store cannot take them are kept, fsynced, and answered 200, then stored in arrival order once it answers; instances may share it (one locked slot file each). Empty: no spool, such callbacks get 503 and depend on the platform's retries, whose policy is unknown", svc.DocDefault("(empty = no spool)"))
	f.Int64(&c.SpoolMaxBytes, "spool-max-bytes", "bound of this instance's spool; past it → 503")
	f.Duration(&c.ShutdownTimeout, "shutdown-timeout", "hard cap of the whole shutdown (callbacks in flight, NATS drain)")
	f.Int(&c.SeqCacheSize, "seq-cache-size", "conferences whose latest event (seq, stream seq, key) the process remembers (about 250 bytes each), so a callback is stored with one NATS round trip instead of two (LRU; `-1` disables: every callback reads the last event first)")
	f.Duration(&c.SeqCacheTTL, "seq-cache-ttl", "how long a remembered latest event is used before it is read again")
	f.String(&o.pprof, "pprof", "listen address of Go's profiles (`/debug/pprof/profile?seconds=N`, `/debug/pprof/heap`, `goroutine`, `allocs`, `mutex`, `block`), on a listener of its own; keep it on 127.0.0.1; empty: off")
	o.http.Declare(f)
	c.Tracing.Declare(f)
	f.Healthcheck(&o.healthcheck, "addr")
}

// defaultOptions: the platform (and a proxy in front of it) reuses
// connections, so idle connections are kept for 2 minutes; a slow or
// stalled client is cut by the header and read timeouts; the write timeout
// covers the publish (bounded by PublishTimeout) plus the answer.
func defaultOptions(c Config) options {
	return options{opsAddr: "127.0.0.1:8091", http: svc.HTTPLimits{
		ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: max(30*time.Second, c.PublishTimeout+10*time.Second),
		Idle: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
	}}
}

// flags declares the settings of c and o.
func (c *Config) flags(o *options) *svc.Flags {
	f := svc.NewFlags("svc-callback", "CALLBACK_")
	c.declare(f, o)
	return f
}

// parseConfig reads flags (args) over environment variables (getenv) over
// the defaults; -h prints the settings to out and returns svc.ErrHelp.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, options, error) {
	cfg := DefaultConfig()
	opt := defaultOptions(cfg)
	if err := cfg.flags(&opt).Parse(args, getenv, out); err != nil {
		return cfg, opt, err
	}
	opt.http.Write = max(opt.http.Write, cfg.PublishTimeout+10*time.Second)
	return cfg.withDefaults(), opt, nil
}
