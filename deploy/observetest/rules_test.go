package observetest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

var repoRoot = filepath.Join("..", "..")

// ruleFile is Prometheus's rule file format, decoded strictly: a misspelt
// key (expresion:, annotation:) fails as it would fail promtool.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// promDuration is Prometheus's duration syntax (1h30m, 5m, 2d).
var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// loadRules reads deploy/prometheus/alerts.yml strictly.
func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return f
}

// TestAlertRules checks the rule file as promtool check rules would:
// groups named once, each rule an alert or a recording rule, every
// expression parses, durations are Prometheus durations; and what the
// runbook needs: a severity and a summary on every alert.
func TestAlertRules(t *testing.T) {
	f := loadRules(t)
	if len(f.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" && !promDuration.MatchString(g.Interval) {
			t.Errorf("group %s: interval %q", g.Name, g.Interval)
		}
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			checkRule(t, r, alerts)
		}
	}
}

func checkRule(t *testing.T, r rule, alerts map[string]bool) {
	t.Helper()
	name := r.Alert + r.Record
	if (r.Alert == "") == (r.Record == "") {
		t.Errorf("rule %q: exactly one of alert and record", name)
	}
	if _, err := metricNames(r.Expr); err != nil {
		t.Errorf("%s: expr: %v", name, err)
	}
	if r.For != "" && !promDuration.MatchString(r.For) {
		t.Errorf("%s: for %q is not a duration", name, r.For)
	}
	if r.Record != "" {
		return
	}
	if alerts[r.Alert] {
		t.Errorf("alert %s defined twice", r.Alert)
	}
	alerts[r.Alert] = true
	if s := r.Labels["severity"]; s != "warning" && s != "critical" {
		t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
	}
	if r.Annotations["summary"] == "" {
		t.Errorf("%s: no summary annotation", r.Alert)
	}
}

// TestScrapeExample checks that the scrape example loads the rule file and
// scrapes the jobs the rules and the dashboard name.
func TestScrapeExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != "alerts.yml" {
		t.Errorf("rule_files %v, want [alerts.yml]", cfg.RuleFiles)
	}
	jobs := map[string]bool{}
	for _, s := range cfg.ScrapeConfigs {
		jobs[s.JobName] = true
	}
	for _, j := range []string{"svc-edge", "svc-conference", "svc-callback"} {
		if !jobs[j] {
			t.Errorf("no scrape job %s", j)
		}
	}
}
