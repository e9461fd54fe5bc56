package web

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"confapplet/pkg/contract/jsgen"
)

// TestClientContractIsGenerated: the JavaScript client's contract module
// and its TypeScript declarations are what pkg/contract renders, so a
// change of a method, a param, a result, a notification or an error code
// that the client package does not follow fails here. UPDATE_DOCS=1
// rewrites them.
func TestClientContractIsGenerated(t *testing.T) {
	for name, want := range map[string][]byte{
		"contract.js":   jsgen.Module(),
		"contract.d.ts": jsgen.Declarations(),
	} {
		path := filepath.Join("client-js", name)
		if os.Getenv("UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, want) {
			t.Errorf("%s differs from what pkg/contract generates (UPDATE_DOCS=1 go test ./svc-edge/web/ rewrites it):\n%s",
				path, firstDifference(have, want))
		}
	}
}

// firstDifference shows the first line where have and want differ.
func firstDifference(have, want []byte) string {
	h, w := bytes.Split(have, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl []byte
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(hl, wl) {
			return fmt.Sprintf("line %d", i+1) + "\n have " + string(hl) + "\n want " + string(wl)
		}
	}
	return ""
}

// TestClientTypes compiles client-js/test/types-check.mts with the
// TypeScript compiler, strictly, when one is installed (Debian:
// node-typescript): the declarations must type an app's calls, results and
// notifications, and refuse a wrong method, param or notification.
func TestClientTypes(t *testing.T) {
	tsc, err := exec.LookPath("tsc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tsc not installed: .ci/run installs node-typescript, the declarations must be compiled in CI")
		}
		t.Skip("tsc not installed (Debian: apt-get install node-typescript): the declarations are not compiled")
	}
	cmd := exec.Command(tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext",
		"--moduleResolution", "nodenext", "--lib", "es2022,dom", "test/types-check.mts")
	cmd.Dir = "client-js"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}
