package edge

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/contract"
)

// Config holds every setting of the edge. DefaultConfig gives the values that
// run locally; ParseConfig reads flags and their EDGE_* environment twins
// (a flag given on the command line wins). CONFIG.md lists them all.
type Config struct {
	Addr           string        // listen address (-addr, EDGE_ADDR)
	NATSURL        string        // NATS server(s) (-nats, NATS_URL)
	LogLevel       string        // debug, info, warn, error (-log-level, LOG_LEVEL)
	AllowedOrigins []string      // Origin values or hosts allowed; empty = the serving host and localhost; "*" = any
	MaxConns       int           // live WebSocket connections; more get HTTP 503
	ReadLimit      int64         // bytes of one incoming message; more closes 1009
	QueueLen       int           // pending requests per connection; more get -32002
	SendQueueBytes int           // bytes queued to one connection; more closes 4001
	PingInterval   time.Duration // keep-alive ping period
	PongWait       time.Duration // how long after a ping the peer must have answered (any frame)
	WriteTimeout   time.Duration // deadline of one socket write; a stuck write closes the connection
	ShutdownWindow time.Duration // closes with 1001 are spread over this window
	ShutdownCap    time.Duration // hard cap of the whole shutdown
	Timeouts       map[string]time.Duration
	NATSGrace      time.Duration // NATS down this long: sessions are closed with 4003 so they move to another edge
	ReplayTimeout  time.Duration // bound of one resume replay from the stream
	AuthSecret     string        `json:"-"` // when set, connections need ?token= signed with it (SignToken); "" = no token
	InstanceID     string        // identifies this edge in session notices; "" = random
	ReadyFile      string        // Run writes the bound address here once listening
	Healthcheck    bool          // Run only GETs /healthz of Addr and exits 0/1

	// OnListen, when set, is called by Serve with the bound address (how a
	// test learns the port of "-addr 127.0.0.1:0").
	OnListen func(addr string) `json:"-"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8080",
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
	}
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
	for name, d := range map[string]time.Duration{"ping-interval": c.PingInterval, "pong-wait": c.PongWait,
		"write-timeout": c.WriteTimeout, "shutdown-cap": c.ShutdownCap, "replay-timeout": c.ReplayTimeout, "nats-grace": c.NATSGrace} {
		if d <= 0 {
			bad("%s: must be > 0", name)
		}
	}
	if c.ShutdownWindow < 0 || c.ShutdownWindow >= c.ShutdownCap {
		bad("shutdown-window: must be >= 0 and below shutdown-cap")
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

// ParseConfig reads args (flags) over getenv (environment twins) over the
// defaults.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("svc-edge", flag.ContinueOnError)
	fs.SetOutput(out)
	var origins, timeouts string
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (EDGE_ADDR)")
	fs.StringVar(&c.NATSURL, "nats", c.NATSURL, "NATS URL(s), comma-separated (NATS_URL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated origins or hosts; empty = the serving host and localhost; * = any (EDGE_ALLOWED_ORIGINS)")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "maximum WebSocket connections (EDGE_MAX_CONNS)")
	fs.Int64Var(&c.ReadLimit, "read-limit", c.ReadLimit, "maximum bytes of one incoming message (EDGE_READ_LIMIT)")
	fs.IntVar(&c.QueueLen, "queue-len", c.QueueLen, "pending requests per connection (EDGE_QUEUE_LEN)")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", c.SendQueueBytes, "outgoing bytes queued per connection (EDGE_SEND_QUEUE_BYTES)")
	fs.DurationVar(&c.PingInterval, "ping-interval", c.PingInterval, "keep-alive ping period (EDGE_PING_INTERVAL)")
	fs.DurationVar(&c.PongWait, "pong-wait", c.PongWait, "time allowed for the pong (EDGE_PONG_WAIT)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "deadline of one socket write (EDGE_WRITE_TIMEOUT)")
	fs.DurationVar(&c.ShutdownWindow, "shutdown-window", c.ShutdownWindow, "window over which closes are spread (EDGE_SHUTDOWN_WINDOW)")
	fs.DurationVar(&c.ShutdownCap, "shutdown-cap", c.ShutdownCap, "hard cap of shutdown (EDGE_SHUTDOWN_CAP)")
	fs.DurationVar(&c.ReplayTimeout, "replay-timeout", c.ReplayTimeout, "bound of one resume replay (EDGE_REPLAY_TIMEOUT)")
	fs.DurationVar(&c.NATSGrace, "nats-grace", c.NATSGrace, "NATS unreachable this long closes sessions with 4003 (EDGE_NATS_GRACE)")
	fs.StringVar(&timeouts, "timeouts", "", "per-method timeouts, e.g. InviteJoinConf=15s,QueryConfState=2s (EDGE_TIMEOUTS)")
	fs.StringVar(&c.AuthSecret, "auth-secret", "", "HMAC secret of connection tokens (?token=); empty = no token needed (EDGE_AUTH_SECRET)")
	fs.StringVar(&c.InstanceID, "instance-id", "", "edge instance id; empty = random (EDGE_INSTANCE_ID)")
	fs.StringVar(&c.ReadyFile, "ready-file", "", "write the bound address to this file once listening (EDGE_READY_FILE)")
	fs.BoolVar(&c.Healthcheck, "healthcheck", false, "GET /healthz of -addr and exit 0 (ok) or 1 (for Docker)")

	env := map[string]string{"nats": "NATS_URL", "log-level": "LOG_LEVEL"}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := env[f.Name]
		if !ok {
			name = "EDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
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
	if origins != "" {
		for o := range strings.SplitSeq(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	if timeouts != "" {
		t, err := ParseTimeouts(timeouts)
		if err != nil {
			return c, err
		}
		c.Timeouts = t
	}
	return c, c.Validate()
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
