// Package dockerstack brings docker-compose.yml up for a test, as its own
// Compose project with the load balancer on free host ports, from the images
// `make images` built, and takes it down with its volumes when the test ends.
// It drives the docker and `docker compose` CLIs; the container fault test
// (deploy/clustertest) and the browser test through the load balancer
// (deploy/local) use it.
package dockerstack

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Stack is one Compose project of docker-compose.yml.
type Stack struct {
	t       testing.TB
	Root    string // the repository root
	Project string
	env     []string
	// Host ports of the load balancer: browsers (the page and WebSockets)
	// and its stats page.
	LBPort, StatsPort int
}

// Tag is the tag compose gives the service images (CONFAPPLET_TAG, as in
// docker-compose.yml).
func Tag() string {
	if t := os.Getenv("CONFAPPLET_TAG"); t != "" {
		return t
	}
	return "dev"
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Up runs `docker compose up --detach --wait` on the committed
// docker-compose.yml (root: the repository root) with env added to the
// environment, and registers its `down --volumes` (after the logs, when the
// test failed).
func Up(t testing.TB, root, name string, env ...string) *Stack {
	t.Helper()
	for _, img := range []string{"svc-edge", "svc-conference", "svc-callback", "ytxsim"} {
		if err := exec.Command("docker", "image", "inspect", "confapplet/"+img+":"+Tag()).Run(); err != nil {
			t.Fatalf("image confapplet/%s:%s missing: run `make images` first", img, Tag())
		}
	}
	s := &Stack{
		t:         t,
		Root:      root,
		Project:   fmt.Sprintf("confapplet-%s-%d", name, os.Getpid()),
		LBPort:    freePort(t),
		StatsPort: freePort(t),
	}
	s.env = append(append(os.Environ(),
		"LB_HTTP_PORT="+strconv.Itoa(s.LBPort),
		"LB_CALLBACK_PORT="+strconv.Itoa(freePort(t)),
		"LB_STATS_PORT="+strconv.Itoa(s.StatsPort),
	), env...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.Compose("logs", "--no-color", "--tail", "40")
			t.Logf("compose logs (last 40 lines per container):\n%s", out)
			// The whole of every container's log, for what 40 lines do
			// not show (CI keeps artifacts/).
			if all, err := s.Compose("logs", "--no-color", "--timestamps"); err == nil {
				path := filepath.Join(root, "artifacts", s.Project+".log")
				if os.MkdirAll(filepath.Dir(path), 0o755) == nil && os.WriteFile(path, []byte(all), 0o644) == nil {
					t.Logf("every container's log: %s", path)
				}
			}
		}
		if out, err := s.Compose("down", "--volumes", "--remove-orphans", "--timeout", "10"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if out, err := s.Compose("up", "--detach", "--wait", "--wait-timeout", "300"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	t.Logf("compose up --wait: %s (project %s, load balancer on 127.0.0.1:%d)", time.Since(start).Round(time.Second), s.Project, s.LBPort)
	return s
}

// Compose runs `docker compose` on the project; stdout and stderr together.
func (s *Stack) Compose(args ...string) (string, error) {
	cmd := exec.Command("docker", append([]string{"compose", "--project-name", s.Project,
		"--project-directory", s.Root, "--file", filepath.Join(s.Root, "docker-compose.yml")}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Docker runs the docker CLI: its stdout, and an error with its stderr.
func Docker(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Must runs the docker CLI and fails the test on an error.
func (s *Stack) Must(args ...string) string {
	s.t.Helper()
	out, err := Docker(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// Container is the name of replica n of service (Compose's naming).
func (s *Stack) Container(service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", s.Project, service, n)
}

// Network is the project's default network.
func (s *Stack) Network() string { return s.Project + "_default" }

// Replicas lists the running containers of service, by replica number.
func (s *Stack) Replicas(service string) []string {
	out := s.Must("ps", "--filter", "label=com.docker.compose.project="+s.Project,
		"--filter", "label=com.docker.compose.service="+service, "--format", "{{.Names}}")
	names := strings.Fields(out)
	num := func(n string) int { i, _ := strconv.Atoi(n[strings.LastIndex(n, "-")+1:]); return i }
	sort.Slice(names, func(i, j int) bool { return num(names[i]) < num(names[j]) })
	return names
}

// WaitHealthy waits for a container's health check to pass.
func (s *Stack) WaitHealthy(name string, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	status := ""
	for time.Now().Before(deadline) {
		out, err := Docker("inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name)
		status = strings.TrimSpace(out)
		if err == nil && status == "running healthy" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Errorf("%s not healthy after %s (%s)", name, d, status)
}

// lbStats is the load balancer's stats CSV: one map per proxy and server
// line, keyed by the header's field names (pxname, svname, scur, status, addr…).
func (s *Stack) lbStats() ([]map[string]string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats;csv", s.StatsPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("load balancer stats: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("load balancer stats: empty")
	}
	head := rows[0]
	head[0] = strings.TrimPrefix(head[0], "# ")
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, v := range r {
			if i < len(head) {
				m[head[i]] = v
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// EdgesUp waits until the load balancer has n edges up.
func (s *Stack) EdgesUp(n int, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	up := 0
	for time.Now().Before(deadline) {
		up = 0
		rows, err := s.lbStats()
		for _, r := range rows {
			if r["pxname"] == "edges" && r["svname"] != "BACKEND" && strings.HasPrefix(r["status"], "UP") {
				up++
			}
		}
		if err == nil && up == n {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Errorf("load balancer: %d edges up after %s, want %d", up, d, n)
}

// LBSessions is how many connections the load balancer's backend holds to
// the server at ip.
func (s *Stack) LBSessions(backend, ip string) (int, error) {
	rows, err := s.lbStats()
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if r["pxname"] == backend && strings.HasPrefix(r["addr"], ip+":") {
			return strconv.Atoi(r["scur"])
		}
	}
	return 0, fmt.Errorf("load balancer: no server of %s at %s", backend, ip)
}

// Fetch GETs url from inside the load balancer's container, which has wget
// and reaches every container of the project by name.
func (s *Stack) Fetch(url string) (string, error) {
	return Docker("exec", s.Container("lb", 1), "wget", "-q", "-O", "-", "-T", "3", url)
}
