// Package clitest checks that every binary of the workspace treats its
// command line the same way (pkg/svc): -h prints the settings and exits 0,
// a stray argument or an unknown flag is refused with exit 1 and a message
// that says why, instead of being ignored.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binaries: name → package directory, relative to the repository root.
var binaries = map[string]string{
	"svc-edge":       "svc-edge",
	"svc-conference": "svc-conference",
	"svc-callback":   "svc-callback",
	"ytxsim":         "deploy/ytxsim",
	"local":          "deploy/local",
}

func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, dir := range binaries {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(bin, name)
			build := exec.Command("go", "build", "-o", path, "./"+dir)
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./%s: %v\n%s", dir, err, out)
			}
			run := func(args ...string) (int, string, string) {
				// A binary that ignored the arguments would start and run
				// until killed: the timeout turns that into a failure.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, path, args...)
				// No NATS, no platform, no YTX_* from the host: nothing may
				// start, whatever the arguments.
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
				cmd.Dir = t.TempDir()
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				code := 0
				var ee *exec.ExitError
				if ctx.Err() != nil {
					t.Fatalf("%v: still running after 20 s: the arguments were ignored", args)
				}
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return code, stdout.String(), stderr.String()
			}
			for _, h := range []string{"-h", "-help"} {
				code, out, errOut := run(h)
				if code != 0 || !strings.Contains(out, "Usage: "+name) || !strings.Contains(out, "-log-level") || !strings.Contains(out, "(LOG_LEVEL)") {
					t.Errorf("%s: exit %d, stdout %q, stderr %q: want exit 0 and the settings", h, code, out, errOut)
				}
			}
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"extra", "-healthcheck"}, `unexpected argument "extra"`},
				{[]string{"-log-level", "info", "extra"}, `unexpected argument "extra"`},
				{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
				{[]string{"-log-level"}, "flag needs an argument: -log-level"},
			} {
				code, out, errOut := run(c.args...)
				if code != 1 || !strings.HasPrefix(errOut, name+": ") || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "-h") {
					t.Errorf("%v: exit %d, stderr %q, stdout %q: want exit 1 and %q", c.args, code, errOut, out, c.want)
				}
			}
		})
	}
}
