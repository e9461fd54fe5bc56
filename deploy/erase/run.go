package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/svc"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// config is the command's settings.
type config struct {
	nats, number, conf string
	dryRun             bool
	timeout            time.Duration
}

func (c *config) flags() *svc.Flags {
	f := svc.NewFlags("erase", "ERASE_")
	f.NATS(&c.nats)
	f.String(&c.number, "number", "the phone number to erase (any form: `13800138005`, `+86 138-0013-8005`)", svc.NoEnv())
	f.String(&c.conf, "conf", "the conference id to erase, with everything stored about it", svc.NoEnv())
	f.Bool(&c.dryRun, "dry-run", "only report what would be removed", svc.NoEnv())
	f.Duration(&c.timeout, "timeout", "how long the whole erasure may take")
	return f
}

// run erases what the flags name and prints the report to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := config{nats: nats.DefaultURL, timeout: 5 * time.Minute}
	if err := c.flags().Parse(args, getenv, stdout); err != nil {
		return err
	}
	var t target
	switch {
	case (c.number == "") == (c.conf == ""):
		return errors.New("give exactly one of -number or -conf (erase -h lists the settings)")
	case c.number != "":
		t.number = national(c.number)
		if len(t.number) < 5 {
			return fmt.Errorf("-number %q: fewer than 5 digits; not a phone number", c.number)
		}
	default:
		if !contract.ValidConfID(c.conf) {
			return fmt.Errorf("-conf %q: not a conference id (4–8 digits)", c.conf)
		}
		t.conf = c.conf
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nc, err := nats.Connect(c.nats, nats.Name("confapplet-erase"))
	if err != nil {
		return fmt.Errorf("nats %s: %w", c.nats, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	e := &eraser{js: js, dryRun: c.dryRun}
	rep, err := e.erase(ctx, t)
	rep.print(stdout, t, c.dryRun)
	return err
}
