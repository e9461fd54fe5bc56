package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sync"
)

// RepoRoot returns the directory holding go.work, from dir upward.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("go.work not found above " + dir)
		}
		d = parent
	}
}

// Builder compiles main packages into Dir, each once, so the tests of one
// binary (or one load-tool run) share the work.
type Builder struct {
	Root string   // the repository root; package directories are relative to it
	Dir  string   // where binaries go; "" makes a temporary one (see Cleanup)
	Race bool     // build with -race, as the test binary itself was
	Env  []string // added to go build's environment, e.g. CGO_ENABLED=0

	mu      sync.Mutex
	done    map[string]string // moduleDir|pkg → binary
	tempDir bool
}

// Build compiles the main packages pkgs, in one go build run in
// Root/moduleDir (so the run shares its work between them), and returns
// their binaries in the order of pkgs. A package is a directory relative to
// moduleDir ("./svc-edge", ".") or an import path its module resolves; its
// binary is named as go build names it.
func (b *Builder) Build(ctx context.Context, moduleDir string, pkgs ...string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		b.done = map[string]string{}
	}
	if b.Dir == "" {
		d, err := os.MkdirTemp("", "confapplet-bin-*")
		if err != nil {
			return nil, err
		}
		b.Dir, b.tempDir = d, true
	}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.Root, moduleDir)
	var todo []string
	for _, p := range pkgs {
		if _, ok := b.done[moduleDir+"|"+p]; !ok {
			todo = append(todo, p)
		}
	}
	if len(todo) > 0 {
		args := []string{"build", "-o", b.Dir + string(filepath.Separator)}
		if b.Race {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, todo...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), b.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %v in %s: %v\n%s", todo, dir, err, out)
		}
		for _, p := range todo {
			b.done[moduleDir+"|"+p] = filepath.Join(b.Dir, binaryName(dir, p))
		}
	}
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = b.done[moduleDir+"|"+p]
	}
	return out, nil
}

// Cleanup removes Dir when Build made it.
func (b *Builder) Cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tempDir {
		os.RemoveAll(b.Dir)
	}
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// binaryName is the file go build -o <dir>/ writes for pkg: the last
// element of its path, the one before it for a major-version suffix.
func binaryName(moduleDir, pkg string) string {
	if pkg == "." {
		abs, err := filepath.Abs(moduleDir)
		if err != nil {
			abs = moduleDir
		}
		return filepath.Base(abs)
	}
	base := path.Base(filepath.ToSlash(pkg))
	if majorVersion.MatchString(base) {
		base = path.Base(path.Dir(filepath.ToSlash(pkg)))
	}
	return base
}
