package composetest

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// root is the repository root, seen from deploy/composetest.
var root = filepath.Join("..", "..")

func path(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }

// required are the settings compose refuses to start without
// (TestComposeRequiresTokenKey), given here unless env sets them.
var required = map[string]string{"EDGE_AUTH_SECRET": "composetest-secret"}

func load(t *testing.T, env map[string]string) *Project {
	t.Helper()
	all := maps.Clone(required)
	maps.Copy(all, env)
	p, err := Load(path("docker-compose.yml"), all)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Go services of the stack: compose service → main package directory.
var goServices = map[string]string{
	"svc-edge":       "svc-edge",
	"svc-conference": "svc-conference",
	"svc-callback":   "svc-callback",
	"ytxsim":         "deploy/ytxsim",
}

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "E": ""}
	for in, want := range map[string]string{
		"$A":          "a",
		"${A}":        "a",
		"${B:-d}":     "d",
		"${E:-d}":     "d",
		"${E-d}":      "",
		"${B-d}":      "d",
		"${A:+x}":     "x",
		"${B:+x}":     "",
		"$$A":         "$A",
		"x${A}y${B}z": "xayz",
	} {
		got, err := Interpolate(in, env)
		if err != nil || got != want {
			t.Errorf("Interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Interpolate("${B:?needed}", env); err == nil {
		t.Error("${B:?} with B unset: want an error")
	}
}

func TestServices(t *testing.T) {
	p := load(t, nil)
	want := append([]string{"lb", "svc-callback", "svc-conference", "svc-edge", "ytxsim"}, natsNodes...)
	slices.Sort(want)
	if got := p.Names(); !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	for name, s := range p.Services {
		if s.Restart != "unless-stopped" && s.Restart != "always" {
			t.Errorf("%s: restart = %q, want unless-stopped or always", name, s.Restart)
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s: no health check", name)
			continue
		}
		if s.Healthcheck.Interval == "" || s.Healthcheck.Timeout == "" || s.Healthcheck.Retries == 0 {
			t.Errorf("%s: health check without interval/timeout/retries", name)
		}
		if s.Logging == nil || s.Logging.Driver != "json-file" || s.Logging.Options["max-size"] == "" || s.Logging.Options["max-file"] == "" {
			t.Errorf("%s: logs must be rotated (json-file with max-size and max-file), got %+v", name, s.Logging)
		}
		if len(s.Profiles) > 0 {
			t.Errorf("%s: in profiles %v: `docker compose up` must start it", name, s.Profiles)
		}
		for dep, d := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
			}
			if d.Condition != "service_healthy" {
				t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
			}
		}
	}
	// No dependency cycles: compose would refuse to start.
	state := map[string]int{}
	var visit func(string, []string)
	visit = func(n string, stack []string) {
		switch state[n] {
		case 1:
			t.Fatalf("dependency cycle: %v", append(stack, n))
		case 2:
			return
		}
		state[n] = 1
		for dep := range p.Services[n].DependsOn {
			visit(dep, append(stack, n))
		}
		state[n] = 2
	}
	for _, n := range p.Names() {
		visit(n, nil)
	}
}

func TestGoServicesBuildFromTheDockerfile(t *testing.T) {
	p := load(t, nil)
	for name, dir := range goServices {
		s := p.Services[name]
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		if s.Build.Context != "." || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build %q -f %q, want . -f deploy/Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
		}
		if got := s.Build.Args["SERVICE"]; got != dir {
			t.Errorf("%s: build arg SERVICE = %q, want %q", name, got, dir)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want read_only, cap_drop [ALL] and no-new-privileges (got %v %v %v)", name, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		if s.Healthcheck != nil && !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/usr/local/bin/confapplet", "-healthcheck"}) {
			t.Errorf("%s: health check %v, want the binary's -healthcheck", name, s.Healthcheck.Test)
		}
		for dep := range s.DependsOn {
			if strings.HasPrefix(dep, "nats-") || name == "ytxsim" || name == "svc-edge" {
				continue
			}
			t.Errorf("%s depends on %s: only NATS should gate it", name, dep)
		}
		if name != "ytxsim" {
			for _, n := range natsNodes {
				if _, ok := s.DependsOn[n]; !ok {
					t.Errorf("%s does not wait for %s", name, n)
				}
			}
			urls := strings.Split(s.Environment["NATS_URL"], ",")
			var hosts []string
			for _, u := range urls {
				h := strings.TrimPrefix(strings.TrimSpace(u), "nats://")
				hosts = append(hosts, strings.TrimSuffix(h, ":4222"))
			}
			slices.Sort(hosts)
			if !slices.Equal(hosts, natsNodes) {
				t.Errorf("%s: NATS_URL = %q, want every node of the cluster", name, s.Environment["NATS_URL"])
			}
		}
	}
}

func TestScaleAndReplicas(t *testing.T) {
	p := load(t, nil)
	min := map[string]int{"svc-edge": 2, "svc-conference": 2, "svc-callback": 1, "ytxsim": 1}
	for name, n := range min {
		got, err := p.Services[name].Replicas()
		if err != nil {
			t.Errorf("%s: replicas: %v", name, err)
		} else if got < n {
			t.Errorf("%s: %d replicas by default, want ≥ %d", name, got, n)
		}
		if name != "lb" && len(p.Services[name].Ports) > 0 && got > 1 {
			t.Errorf("%s: publishes host ports %v and runs %d replicas: they would collide", name, p.Services[name].Ports, got)
		}
	}
	// Streams and KV buckets are created with 3 replicas on the 3-node cluster.
	if v := p.Services["svc-conference"].Environment["CONF_KV_REPLICAS"]; v != "3" {
		t.Errorf("svc-conference: CONF_KV_REPLICAS = %q, want 3", v)
	}
	if v := p.Services["svc-callback"].Environment["CALLBACK_EVENTS_REPLICAS"]; v != "3" {
		t.Errorf("svc-callback: CALLBACK_EVENTS_REPLICAS = %q, want 3", v)
	}
	// Scaling through the environment works.
	p = load(t, map[string]string{"EDGE_REPLICAS": "5", "CONF_REPLICAS": "3"})
	if n, _ := p.Services["svc-edge"].Replicas(); n != 5 {
		t.Errorf("EDGE_REPLICAS=5: svc-edge replicas %d", n)
	}
	if n, _ := p.Services["svc-conference"].Replicas(); n != 3 {
		t.Errorf("CONF_REPLICAS=3: svc-conference replicas %d", n)
	}
}

func TestPorts(t *testing.T) {
	p := load(t, nil)
	published := map[string][]string{}
	for name, s := range p.Services {
		if len(s.Ports) > 0 {
			published[name] = s.Ports
		}
	}
	lb := published["lb"]
	delete(published, "lb")
	if len(published) > 0 {
		t.Errorf("only the load balancer should publish ports; also: %v", published)
	}
	for _, want := range []string{"8080:8080", "8081:8081"} {
		if !slices.Contains(lb, want) {
			t.Errorf("lb ports %v: missing %s", lb, want)
		}
	}
	for _, p := range lb {
		if strings.HasSuffix(p, ":8404") && !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("lb stats port %s must stay on 127.0.0.1", p)
		}
	}
}

func TestNATSCluster(t *testing.T) {
	p := load(t, nil)
	names := map[string]bool{}
	for _, n := range natsNodes {
		s := p.Services[n]
		if !strings.HasPrefix(s.Image, "nats:") {
			t.Errorf("%s: image %q, want nats:", n, s.Image)
		}
		if want := "nats:" + natsServerVersion(t) + "-alpine"; s.Image != want {
			t.Errorf("%s: image %q, want %q (the nats-server version deploy/go.mod tests against)", n, s.Image, want)
		}
		if !slices.Equal(s.Command, []string{"-c", "/etc/nats/" + n + ".conf"}) {
			t.Errorf("%s: command %v", n, s.Command)
		}
		if !slices.Contains(s.Volumes, n+"-data:/data") {
			t.Errorf("%s: volumes %v: want the named volume %s-data on /data", n, s.Volumes, n)
		}
		if _, ok := p.Volumes[n+"-data"]; !ok {
			t.Errorf("volume %s-data not declared", n)
		}
		if s.StopSignal != "SIGUSR2" {
			t.Errorf("%s: stop_signal %q, want SIGUSR2 (lame duck)", n, s.StopSignal)
		}
		hc := strings.Join(s.Healthcheck.Test, " ")
		if !strings.Contains(hc, ":8222/healthz") {
			t.Errorf("%s: health check %q should ask the monitoring /healthz", n, hc)
		}

		opts, err := server.ProcessConfigFile(path("deploy", "nats", n+".conf"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if opts.ServerName != n || names[opts.ServerName] {
			t.Errorf("%s: server_name %q (must be unique and equal the service)", n, opts.ServerName)
		}
		names[opts.ServerName] = true
		if !opts.JetStream || opts.StoreDir != "/data" {
			t.Errorf("%s: jetstream %v store %q, want on and /data", n, opts.JetStream, opts.StoreDir)
		}
		if opts.Port != 4222 || opts.Cluster.Port != 6222 || opts.HTTPPort != 8222 {
			t.Errorf("%s: ports client %d cluster %d http %d", n, opts.Port, opts.Cluster.Port, opts.HTTPPort)
		}
		if opts.Cluster.Name != "confapplet" {
			t.Errorf("%s: cluster name %q", n, opts.Cluster.Name)
		}
		var routes []string
		for _, u := range opts.Routes {
			routes = append(routes, u.Hostname())
		}
		slices.Sort(routes)
		if !slices.Equal(routes, natsNodes) {
			t.Errorf("%s: routes %v, want all of %v", n, routes, natsNodes)
		}
		if opts.LameDuckDuration <= 0 {
			t.Errorf("%s: no lame-duck duration", n)
		}
	}
}

// natsServerVersion is the nats-server module version deploy/go.mod requires.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(path("deploy", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v([0-9.]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("deploy/go.mod does not require nats-server")
	}
	return string(m[1])
}

func TestLoadBalancer(t *testing.T) {
	p := load(t, nil)
	lb := p.Services["lb"]
	if !strings.HasPrefix(lb.Image, "haproxy:") {
		t.Errorf("lb image %q, want haproxy", lb.Image)
	}
	if !slices.Contains(lb.Volumes, "./deploy/lb/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro") {
		t.Errorf("lb volumes %v: want deploy/lb/haproxy.cfg mounted read-only", lb.Volumes)
	}
	cfg, err := os.ReadFile(path("deploy", "lb", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(cfg)
	for _, want := range []string{
		"bind :8080",
		"bind :8081",
		"server-template edge 1-16 svc-edge:8080",
		"server-template callback 1-8 svc-callback:8081",
		"option httpchk GET /readyz",
		"timeout tunnel", // WebSockets outlive timeout server
		"balance leastconn",
		"nameserver dns1 127.0.0.11:53",
		"monitor-uri /lb-healthz",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	// Two descriptors per proxied connection: HAProxy raises its own
	// open-files limit for the global maxconn. A nofile ulimit in compose
	// would make an engine with a lower hard limit refuse the container, and
	// strict limits would make HAProxy refuse to start below 2×maxconn.
	if m := regexp.MustCompile(`(?m)^global\n(?:[^\n]*\n)*?\s+maxconn (\d+)`).FindStringSubmatch(text); m == nil {
		t.Error("haproxy.cfg: no global maxconn")
	}
	if _, ok := lb.Ulimits["nofile"]; ok {
		t.Errorf("lb ulimits nofile %v: engines with a lower hard limit refuse the container", lb.Ulimits["nofile"])
	}
	if !regexp.MustCompile(`(?m)^\s+no strict-limits$`).MatchString(text) {
		t.Error("haproxy.cfg: without `no strict-limits` HAProxy refuses to start where the engine's open-files limit is below 2×maxconn")
	}
	if !strings.Contains(strings.Join(lb.Healthcheck.Test, " "), "/lb-healthz") {
		t.Errorf("lb health check %v should ask /lb-healthz", lb.Healthcheck.Test)
	}
	// The real parser, where HAProxy is installed (apt-get install haproxy).
	if hp, err := exec.LookPath("haproxy"); err == nil {
		out, err := exec.Command(hp, "-c", "-f", path("deploy", "lb", "haproxy.cfg")).CombinedOutput()
		if err != nil {
			t.Errorf("haproxy -c: %v\n%s", err, out)
		}
	} else {
		t.Log("haproxy not installed: its own syntax check skipped")
	}
}

func TestSimulatorSwitch(t *testing.T) {
	// Default: the simulator runs and svc-conference talks to it, and the
	// simulator calls back through the load balancer with the callback secret.
	p := load(t, nil)
	sim, conf, cb := p.Services["ytxsim"], p.Services["svc-conference"], p.Services["svc-callback"]
	if n, _ := sim.Replicas(); n != 1 {
		t.Errorf("simulator replicas %d by default, want 1", n)
	}
	if got := conf.Environment["YTX_BASE_URL"]; got != "http://ytxsim:8883/2013-12-26" {
		t.Errorf("default YTX_BASE_URL = %q, want the simulator", got)
	}
	for _, k := range []string{"YTX_ACCOUNT_SID", "YTX_AUTH_TOKEN", "YTX_APP_ID"} {
		if conf.Environment[k] == "" || conf.Environment[k] != sim.Environment[k] {
			t.Errorf("%s: conference %q, simulator %q: must be set and equal", k, conf.Environment[k], sim.Environment[k])
		}
	}
	if want := "http://lb:8081/yt/" + cb.Environment["CALLBACK_SECRET"]; sim.Environment["SIM_NOTIFY_URL"] != want {
		t.Errorf("SIM_NOTIFY_URL = %q, want %q", sim.Environment["SIM_NOTIFY_URL"], want)
	}
	// svc-conference must not wait for the simulator: with it switched off
	// compose would otherwise refuse to start the stack.
	if _, ok := conf.DependsOn["ytxsim"]; ok {
		t.Error("svc-conference depends on the simulator")
	}
	for name, s := range p.Services {
		if _, ok := s.DependsOn["ytxsim"]; ok {
			t.Errorf("%s depends on ytxsim, which may be switched off", name)
		}
	}

	// Credentials set, simulator off.
	real := map[string]string{
		"YTX_BASE_URL": "https://app.cloopen.com:8883/2013-12-26", "YTX_ACCOUNT_SID": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"YTX_AUTH_TOKEN": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "YTX_APP_ID": "cccccccccccccccccccccccccccccccc",
		"YTXSIM_REPLICAS": "0", "CALLBACK_SECRET": "s3cret",
	}
	p = load(t, real)
	if n, _ := p.Services["ytxsim"].Replicas(); n != 0 {
		t.Errorf("YTXSIM_REPLICAS=0: simulator replicas %d", n)
	}
	conf = p.Services["svc-conference"]
	for k, v := range real {
		if strings.HasPrefix(k, "YTX_") && conf.Environment[k] != v {
			t.Errorf("%s = %q with credentials set, want %q", k, conf.Environment[k], v)
		}
	}
	if got := p.Services["svc-callback"].Environment["CALLBACK_SECRET"]; got != "s3cret" {
		t.Errorf("CALLBACK_SECRET = %q, want the operator's", got)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(path("deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	var froms []string
	for _, line := range strings.Split(df, "\n") {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "FROM "); ok {
			froms = append(froms, f)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, FROM lines: %v", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:") {
		t.Errorf("builder %q, want golang", froms[0])
	}
	last := froms[len(froms)-1]
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && !strings.HasPrefix(last, "scratch") {
		t.Errorf("runtime %q, want distroless/static or scratch", last)
	}
	// The Go version of the builder is the workspace's.
	work, _ := os.ReadFile(path("go.work"))
	if m := regexp.MustCompile(`(?m)^go ([0-9.]+)`).FindSubmatch(work); m == nil || !strings.Contains(df, "GO_VERSION="+string(m[1])) {
		t.Errorf("the builder's GO_VERSION must equal go.work's go line (%s)", m)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `"./${s}"`, "COPY --from=pick /out/${SERVICE}/confapplet"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(user) == 0 || strings.HasPrefix(user[len(user)-1][1], "0") || strings.HasPrefix(user[len(user)-1][1], "root") {
		t.Errorf("the runtime must run as a non-root USER, got %v", user)
	}
	if !regexp.MustCompile(`HEALTHCHECK[^\n]*(\\\n[^\n]*)*CMD \["/usr/local/bin/confapplet", "-healthcheck"\]`).MatchString(df) {
		t.Error("no HEALTHCHECK through the binary's -healthcheck flag")
	}
	// Every module of go.work has its go.mod copied before `go mod download`,
	// else the workspace does not load in the builder.
	for _, m := range regexp.MustCompile(`(?m)^\s+\./(\S+)$`).FindAllStringSubmatch(string(work), -1) {
		if !strings.Contains(df, "COPY "+m[1]+"/go.mod ") {
			t.Errorf("Dockerfile does not copy %s/go.mod before downloading modules", m[1])
		}
	}
	// The shared build stage builds every SERVICE compose asks for.
	loop := regexp.MustCompile(`for s in ([^;]+); do`).FindStringSubmatch(df)
	if loop == nil {
		t.Fatal("Dockerfile: no `for s in …; do` loop building the binaries")
	}
	built := strings.Fields(loop[1])
	p := load(t, nil)
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		if svc := s.Build.Args["SERVICE"]; !slices.Contains(built, svc) {
			t.Errorf("%s: SERVICE=%s is not built by the Dockerfile's loop %v", name, svc, built)
		}
	}
	// Both builders (BuildKit and the classic one) read the root's .dockerignore;
	// nothing must need a registry at build time (a syntax= line pulls its frontend).
	if regexp.MustCompile(`(?m)^(# *syntax=|RUN +--mount)`).MatchString(df) {
		t.Error("Dockerfile needs BuildKit extras (syntax= or RUN --mount): the classic builder, and hosts without a registry, cannot build it")
	}
	ign, err := os.ReadFile(path(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "**/*_test.go"} {
		if !strings.Contains(string(ign), want) {
			t.Errorf(".dockerignore should keep %s out of the context", want)
		}
	}
}

// Compose fails fast, naming the variable and what it is for, when the
// edges' token key is unset: the stack is never started open by accident.
func TestComposeRequiresTokenKey(t *testing.T) {
	_, err := Load(path("docker-compose.yml"), map[string]string{"EDGE_AUTH_SECRET": ""})
	if err == nil || !strings.Contains(err.Error(), "EDGE_AUTH_SECRET") || !strings.Contains(err.Error(), "connection tokens") {
		t.Fatalf("compose without EDGE_AUTH_SECRET: %v, want a clear refusal", err)
	}
	p := load(t, nil)
	if got := p.Services["svc-edge"].Environment["EDGE_AUTH_SECRET"]; got != required["EDGE_AUTH_SECRET"] {
		t.Fatalf("svc-edge EDGE_AUTH_SECRET = %q", got)
	}
}
