// Package tracing is the services' OpenTelemetry tracing: off unless an
// OTLP endpoint is configured, then spans exported over OTLP/HTTP.
//
// A *Provider is one service's tracer (New; nil when tracing is off). Every
// method of a nil *Provider and every function of the package does nothing
// and allocates nothing without a span to work on, so the hot paths call
// them unconditionally: with tracing off they cost a nil check or a
// context lookup.
//
// Where the spans are (docs/operations.md, "Tracing"): spans.go names them
// and carries W3C trace context in NATS headers; calls.go keeps the trace
// context of each platform command so that the platform's callbacks, which
// echo none of our headers, join the trace of the command that caused them;
// log.go puts trace_id and span_id in the log lines of a traced operation.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"confapplet/pkg/svc"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config is the tracing settings every service shares, under the names the
// OpenTelemetry specification gives their environment variables.
type Config struct {
	Endpoint       string  // base URL of an OTLP/HTTP receiver; traces go to <Endpoint>/v1/traces
	TracesEndpoint string  // full URL of the traces receiver; wins over Endpoint
	Sampler        string  // an OTEL_TRACES_SAMPLER value
	SamplerArg     float64 // the ratio of the *traceidratio samplers
}

// DefaultConfig is tracing off; once on, every trace is kept unless its
// parent was dropped (the specification's defaults).
func DefaultConfig() Config {
	return Config{Sampler: "parentbased_always_on", SamplerArg: 1}
}

// Declare declares the settings on f.
func (c *Config) Declare(f *svc.Flags) {
	f.String(&c.Endpoint, "otlp-endpoint", "OpenTelemetry: base URL of an OTLP/HTTP collector (`http://otel-collector:4318`); spans go to `/v1/traces` below it. Set (or `-otlp-traces-endpoint`): tracing on; empty: off, and nothing is traced or added to the logs. Headers, timeout, compression and TLS files come from the standard `OTEL_EXPORTER_OTLP_*` variables", svc.Env("OTEL_EXPORTER_OTLP_ENDPOINT"))
	f.String(&c.TracesEndpoint, "otlp-traces-endpoint", "OpenTelemetry: full URL of the OTLP/HTTP traces receiver; wins over `-otlp-endpoint`", svc.Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	f.String(&c.Sampler, "traces-sampler", "which traces are kept: `parentbased_always_on`, `parentbased_traceidratio`, `parentbased_always_off`, `always_on`, `always_off` or `traceidratio`. Parent-based ones follow the decision of the request or command a span belongs to, so a trace is kept whole or not at all", svc.Env("OTEL_TRACES_SAMPLER"))
	f.Float64(&c.SamplerArg, "traces-sampler-arg", "the fraction of traces the `*traceidratio` samplers keep (0 to 1)", svc.Env("OTEL_TRACES_SAMPLER_ARG"))
}

// On reports whether an endpoint is configured.
func (c Config) On() bool { return c.Endpoint != "" || c.TracesEndpoint != "" }

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	for name, u := range map[string]string{"otlp-endpoint": c.Endpoint, "otlp-traces-endpoint": c.TracesEndpoint} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, u))
		}
	}
	if _, err := c.sampler(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) sampler() (sdktrace.Sampler, error) {
	if c.SamplerArg < 0 || c.SamplerArg > 1 {
		return nil, fmt.Errorf("traces-sampler-arg: %v is not between 0 and 1", c.SamplerArg)
	}
	ratio := sdktrace.TraceIDRatioBased(c.SamplerArg)
	switch c.Sampler {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(ratio), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio, nil
	}
	return nil, fmt.Errorf("traces-sampler: unknown sampler %q", c.Sampler)
}

// tracesURL is where spans are sent.
func (c Config) tracesURL() string {
	if c.TracesEndpoint != "" {
		return c.TracesEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/") + "/v1/traces"
}

// Provider is one service's tracer. A nil *Provider is tracing off.
type Provider struct {
	tp    *sdktrace.TracerProvider
	tr    trace.Tracer
	calls *calls // nil until UseCalls (calls.go)
}

// New returns the tracer of service (its OpenTelemetry service.name;
// instance, when not empty, its service.instance.id), exporting in batches
// over OTLP/HTTP; nil when cfg configures no endpoint. Export failures are
// logged to log (at most one line a minute: a collector that is down must
// not flood the logs).
func New(cfg Config, service, instance string, log zerolog.Logger) (*Provider, error) {
	if !cfg.On() {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sampler, _ := cfg.sampler()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.tracesURL()))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	setErrorLog(log)
	return newProvider(service, instance, sampler, sdktrace.WithBatcher(exp)), nil
}

// NewSync returns a tracer that hands every span to exp as it ends, keeping
// every trace: for tests, with tracetest.NewInMemoryExporter.
func NewSync(service, instance string, exp sdktrace.SpanExporter) *Provider {
	return newProvider(service, instance, sdktrace.AlwaysSample(), sdktrace.WithSyncer(exp))
}

func newProvider(service, instance string, sampler sdktrace.Sampler, export sdktrace.TracerProviderOption) *Provider {
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", instance))
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over
	// the names given here.
	res, err := resource.Merge(resource.NewSchemaless(attrs...), resource.Environment())
	if err != nil {
		res = resource.NewSchemaless(attrs...)
	}
	tp := sdktrace.NewTracerProvider(export, sdktrace.WithSampler(sampler), sdktrace.WithResource(res))
	return &Provider{tp: tp, tr: tp.Tracer("confapplet/" + service)}
}

// Shutdown exports the spans still queued and stops the exporter, within
// ctx (the service's shutdown cap).
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// errorLog is where the SDK's own errors go: OpenTelemetry has one error
// handler per process, so the first service that turns tracing on names
// it (services sharing a process, the local stack, share it too).
var errorLog sync.Once

func setErrorLog(log zerolog.Logger) {
	errorLog.Do(func() {
		l := log.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Minute})
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			l.Warn().Err(err).Msg("tracing: spans not exported")
		}))
	})
}
