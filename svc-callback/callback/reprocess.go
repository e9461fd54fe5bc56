package callback

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"confapplet/pkg/logging"

	"github.com/nats-io/nats.go"
)

// runReprocess is `svc-callback reprocess [-dry-run] [the service's flags]`:
// it connects to NATS with the service's settings, parses every callback
// marked as not understood again with this binary's parser, publishes the
// events of those it understands now, and prints what it did. Run it after
// deploying a parser fix; running it twice is harmless.
func runReprocess(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("svc-callback reprocess", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dryRun := fs.Bool("dry-run", false, "only report what would be published")
	// The remaining flags are the service's (-nats, -time-zone, …).
	var rest []string
	for _, a := range args {
		if a == "-dry-run" || a == "--dry-run" || a == "-dry-run=true" {
			*dryRun = true
			continue
		}
		rest = append(rest, a)
	}
	cfg, _, err := parseConfig(rest, getenv, stdout)
	if err != nil {
		if err == flag.ErrHelp {
			fs.PrintDefaults()
		}
		return err
	}
	if cfg.Secret == "" {
		cfg.Secret = "unused-by-reprocess" // no HTTP is served
	}
	cfg.SpoolDir = "" // the running service owns it and forwards it
	log := logging.New(stdout, cfg.LogLevel, "svc-callback-reprocess")
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("svc-callback reprocess"))
	if err != nil {
		return fmt.Errorf("connect NATS %s: %w", cfg.NATSURL, err)
	}
	defer nc.Close()
	s, err := New(cfg, nc, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	res, err := s.Reprocess(ctx, *dryRun)
	verb := "published"
	if *dryRun {
		verb = "would publish"
	}
	fmt.Fprintf(stdout, "reprocess: %s %d, still not understood %d, raw aged out %d\n", verb, res.Published, res.Unparsed, res.Gone)
	for _, f := range res.Failures {
		fmt.Fprintln(stdout, "  not understood:", maskNumbers(f))
	}
	return err
}
