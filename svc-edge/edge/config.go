package edge

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"
)

// Config holds every setting of the edge. DefaultConfig gives the values that
// run locally; ParseConfig reads flags and their environment twins (a flag
// given on the command line wins). Each setting is described once, in its
// flag declaration (declare), from which CONFIG.md's table is rendered.
type Config struct {
	Addr           string
	OpsAddr        string // "" = no ops listener
	Pprof          string // "" = off
	NATSURL        string
	LogLevel       string
	LogFullNumbers bool
	AllowedOrigins []string // empty = localhost, and the serving host when tokens are required; "*" = any
	MaxConns       int
	ReadLimit      int64
	QueueLen       int
	SendQueueBytes int
	PingInterval   time.Duration
	PongWait       time.Duration
	WriteTimeout   time.Duration
	ShutdownWindow time.Duration
	ShutdownCap    time.Duration
	Timeouts       map[string]time.Duration
	NATSGrace      time.Duration
	ReplayTimeout  time.Duration
	AuthSecret     string `json:"-"` // HS256 key of connection tokens (jwt.go)
	InstanceID     string // "" = random
	ReadyFile      string
	HTTP           svc.HTTPLimits // the public listener's
	Healthcheck    bool

	// Connection tokens (jwt.go) besides AuthSecret.
	AuthPublicKey   string
	AuthJWKSURL     string
	AuthMaxLifetime time.Duration
	// InsecureNoAuth must be set to run with none of the token keys
	// (New then logs a warning).
	InsecureNoAuth bool
	// TrustedProxies are the load balancers whose X-Forwarded-For names a
	// connection's source address (source.go); empty = the TCP peer.
	TrustedProxies []netip.Prefix

	// OnListen, when set, is called by Serve with the bound address (how a
	// test learns the port of "-addr 127.0.0.1:0").
	OnListen func(addr string) `json:"-"`

	// Tracing is the OpenTelemetry settings; Serve builds Tracer from
	// them. A Tracer set before (tests) is used as it is; nil is off.
	Tracing tracing.Config
	Tracer  *tracing.Provider `json:"-"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8080",
		OpsAddr:        "127.0.0.1:8090",
		NATSURL:        "nats://127.0.0.1:4222",
		LogLevel:       "info",
		MaxConns:       20000,
		ReadLimit:      64 << 10,
		QueueLen:       16,
		SendQueueBytes: 1 << 20,
		PingInterval:   30 * time.Second,
		PongWait:       15 * time.Second,
		WriteTimeout:   10 * time.Second,
		ShutdownWindow: 2 * time.Second,
		ShutdownCap:    10 * time.Second,
		ReplayTimeout:  10 * time.Second,
		NATSGrace:      20 * time.Second,
		HTTP:           svc.HTTPLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: time.Minute},

		AuthMaxLifetime: 24 * time.Hour,
		Tracing:         tracing.DefaultConfig(),
	}
}

// authOn reports whether a connection token key is configured.
func (c *Config) authOn() bool {
	return c.AuthSecret != "" || c.AuthPublicKey != "" || c.AuthJWKSURL != ""
}

// Timeout is the deadline of one call of method.
func (c *Config) Timeout(method string) time.Duration {
	if d, ok := c.Timeouts[method]; ok {
		return d
	}
	if m, ok := contract.Methods[method]; ok && m.Timeout > 0 {
		return m.Timeout
	}
	return 5 * time.Second
}

// Validate reports every invalid setting at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Addr == "" {
		bad("addr: empty")
	}
	if c.NATSURL == "" {
		bad("nats: empty")
	}
	if c.MaxConns < 1 {
		bad("max-conns: %d < 1", c.MaxConns)
	}
	if c.ReadLimit < 512 {
		bad("read-limit: %d < 512", c.ReadLimit)
	}
	if c.QueueLen < 1 {
		bad("queue-len: %d < 1", c.QueueLen)
	}
	if int64(c.SendQueueBytes) < c.ReadLimit {
		bad("send-queue-bytes: %d is below read-limit %d", c.SendQueueBytes, c.ReadLimit)
	}
	if c.AuthMaxLifetime <= 0 {
		bad("auth-max-lifetime: must be > 0")
	}
	if !c.authOn() && !c.InsecureNoAuth && !c.Healthcheck { // a health check serves no one
		bad("no connection token key: set EDGE_AUTH_SECRET, EDGE_AUTH_PUBLIC_KEY or EDGE_AUTH_JWKS_URL " +
			"(or EDGE_INSECURE_NO_AUTH=true to let anyone connect as any client id, for development only)")
	}
	for name, d := range map[string]time.Duration{"ping-interval": c.PingInterval, "pong-wait": c.PongWait,
		"write-timeout": c.WriteTimeout, "shutdown-cap": c.ShutdownCap, "replay-timeout": c.ReplayTimeout, "nats-grace": c.NATSGrace,
		"read-header-timeout": c.HTTP.ReadHeader, "idle-timeout": c.HTTP.Idle} {
		if d <= 0 {
			bad("%s: must be > 0", name)
		}
	}
	if c.ShutdownWindow < 0 || c.ShutdownWindow >= c.ShutdownCap {
		bad("shutdown-window: must be >= 0 and below shutdown-cap")
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	for m, d := range c.Timeouts {
		if _, ok := contract.Methods[m]; !ok {
			bad("timeouts: unknown method %q", m)
		}
		if d <= 0 {
			bad("timeouts: %s must be > 0", m)
		}
	}
	return errors.Join(errs...)
}

// declare declares every setting of c on f: the flag, its environment
// twin, and its one description.
func (c *Config) declare(f *svc.Flags, origins, timeouts *string) {
	f.String(&c.Addr, "addr", "listen address: the WebSocket `/client/{client_id}`, the page `/`, `/healthz`, `/readyz` (never `/metrics` or pprof); `127.0.0.1:0` picks a free port")
	f.String(&c.OpsAddr, "ops-addr", "ops listener: `/healthz`, `/readyz`, `/metrics`; keep it on loopback or an internal network; empty: none")
	f.String(&c.Pprof, "pprof", "listen address of Go's profiles (`/debug/pprof/profile?seconds=N`, `/debug/pprof/heap`, `goroutine`, `allocs`, `mutex`, `block`), on a listener of its own; keep it on 127.0.0.1; empty: off")
	f.NATS(&c.NATSURL)
	f.LogLevel(&c.LogLevel)
	f.LogFullNumbers(&c.LogFullNumbers)
	f.String(origins, "allowed-origins", "comma-separated allowed `Origin`s: a full origin (`https://app.example.com`), a host with port, a host name, or `*` for any. Empty: `localhost`, `127.0.0.1`, `[::1]` on any port, plus the host serving the request when connection tokens are required (without tokens the `Host` header is not trusted: DNS rebinding). Requests without `Origin` (non-browser clients) are allowed. Refused: HTTP 403")
	f.Int(&c.MaxConns, "max-conns", "live WebSocket connections; more get HTTP 503")
	f.Int64(&c.ReadLimit, "read-limit", "bytes of one incoming message; larger closes with 1009")
	f.Int(&c.QueueLen, "queue-len", "requests waiting per connection besides the one running, invalid ones included (their answers wait their turn); more get error -32002, also in turn")
	f.Int(&c.SendQueueBytes, "send-queue-bytes", "bytes queued to one connection and not yet written; more closes it with 4001 (slow consumer). Must be ≥ read-limit")
	f.Duration(&c.PingInterval, "ping-interval", "keep-alive ping period (a connection's first ping comes after half to all of it, so connections that arrived together are not pinged together)")
	f.Duration(&c.PongWait, "pong-wait", "a connection silent (no pong, no message) for ping-interval + pong-wait is closed with 4002")
	f.Duration(&c.WriteTimeout, "write-timeout", "deadline of one socket write; a write stuck longer drops the connection")
	f.Duration(&c.ShutdownWindow, "shutdown-window", "on SIGTERM/SIGINT, closes with 1001 are spread over this window")
	f.Duration(&c.ShutdownCap, "shutdown-cap", "hard cap of the whole shutdown (window, sessions ending, NATS drain)")
	f.String(timeouts, "timeouts", "per-method deadlines, e.g. `InviteJoinConf=15s,QueryConfState=2s`; defaults: 10 s for commands, 5 s for `QueryConfState`, `GetConf`, `WatchConf`, `UnwatchConf` (`contract.Methods`)",
		svc.DocDefault("*(contract defaults)*"))
	f.Duration(&c.NATSGrace, "nats-grace", "NATS unreachable this long: every session is closed with 4003 so browsers move to an edge that has NATS (requests meanwhile fail at once with -32000; `/readyz` is 503)")
	f.Duration(&c.ReplayTimeout, "replay-timeout", "bound of one replay from the events stream (watch / resume)")
	f.String(&c.AuthSecret, "auth-secret", "HS256 secret of connection tokens (JWT, see Connection tokens below): every connection must present a token signed with it; a missing, forged, expired or over-long-lived token gets HTTP 401 before the upgrade. At least 32 random bytes (`openssl rand -hex 32`; shorter ones are logged as a warning). Prefer the environment (a flag shows in `ps`)")
	f.String(&c.AuthPublicKey, "auth-public-key", "PEM file (`PUBLIC KEY` or `CERTIFICATE`) of the RSA or P-256 key whose private half signs RS256/ES256 tokens on your back end: the edge never holds a signing key")
	f.String(&c.AuthJWKSURL, "auth-jwks-url", "JWKS URL (RFC 7517) of RS256/ES256 keys, looked up by the token's `kid`; fetched on first use, again for an unknown `kid` (at most every 30 s) and every 10 min")
	f.Var((*prefixList)(&c.TrustedProxies), "trusted-proxies", "comma-separated CIDRs or addresses of load balancers whose `X-Forwarded-For` names a connection's source address (read from the nearest hop, skipping trusted ones); from anyone else the TCP peer is the source. svc-conference's per-source call budget counts by it")
	f.Bool(&c.InsecureNoAuth, "insecure-no-auth", "run with none of the three token keys: anyone may connect as any client id. Without a key and without this the edge refuses to start; with it, it logs a warning on every start. For development only (the local stack sets it, on loopback)")
	f.Duration(&c.AuthMaxLifetime, "auth-max-lifetime", "a token whose `exp` is further than this from now, or from its `iat`, is refused")
	f.String(&c.InstanceID, "instance-id", "this edge's id in session notices and logs", svc.DocDefault("*(random)*"))
	f.String(&c.ReadyFile, "ready-file", "once listening, write the bound address (`host:port`) to this file (tests, scripts)")
	c.HTTP.Declare(f)
	c.Tracing.Declare(f)
	f.Healthcheck(&c.Healthcheck, "addr", svc.Env("EDGE_HEALTHCHECK"))
}

// ParseConfig reads args (flags) over getenv (environment twins) over the
// defaults; -h prints the settings to out and returns svc.ErrHelp.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	f, origins, timeouts := c.flags()
	if err := f.Parse(args, getenv, out); err != nil {
		return c, err
	}
	if *origins != "" {
		for o := range strings.SplitSeq(*origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	if *timeouts != "" {
		t, err := ParseTimeouts(*timeouts)
		if err != nil {
			return c, err
		}
		c.Timeouts = t
	}
	return c, c.Validate()
}

// flags declares c's settings; origins and timeouts receive the two that
// ParseConfig turns into a list and a map.
func (c *Config) flags() (f *svc.Flags, origins, timeouts *string) {
	f = svc.NewFlags("svc-edge", "EDGE_")
	origins, timeouts = new(string), new(string)
	c.declare(f, origins, timeouts)
	return f, origins, timeouts
}

// ParseTimeouts reads "Method=duration,Method=duration".
func ParseTimeouts(s string) (map[string]time.Duration, error) {
	m := map[string]time.Duration{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("timeouts: %q is not Method=duration", item)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			if n, e2 := strconv.Atoi(v); e2 == nil {
				d = time.Duration(n) * time.Millisecond
			} else {
				return nil, fmt.Errorf("timeouts: %s: %w", k, err)
			}
		}
		m[strings.TrimSpace(k)] = d
	}
	return m, nil
}
