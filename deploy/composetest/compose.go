// Package composetest checks docker-compose.yml, deploy/Dockerfile, the NATS
// cluster configuration and the load-balancer configuration without a
// container engine: it parses the files, interpolates variables the way
// Compose does, and compares what compose sets with what each service's own
// configuration parser accepts.
//
// Run it with: go test ./deploy/composetest/ (from the repository root).
package composetest

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Project is the part of the Compose specification this test reads.
type Project struct {
	Name     string              `yaml:"name"`
	Services map[string]*Service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

// Service is one compose service.
type Service struct {
	Image           string            `yaml:"image"`
	Build           *Build            `yaml:"build"`
	Command         []string          `yaml:"command"`
	Restart         string            `yaml:"restart"`
	Environment     Env               `yaml:"environment"`
	Healthcheck     *Healthcheck      `yaml:"healthcheck"`
	DependsOn       DependsOn         `yaml:"depends_on"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Deploy          *Deploy           `yaml:"deploy"`
	Profiles        []string          `yaml:"profiles"`
	StopSignal      string            `yaml:"stop_signal"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Hostname        string            `yaml:"hostname"`
	Ulimits         map[string]Ulimit `yaml:"ulimits"`
	Logging         *Logging          `yaml:"logging"`
	ReadOnly        bool              `yaml:"read_only"`
	CapDrop         []string          `yaml:"cap_drop"`
	SecurityOpt     []string          `yaml:"security_opt"`
}

// Logging is a service's logging section.
type Logging struct {
	Driver  string            `yaml:"driver"`
	Options map[string]string `yaml:"options"`
}

// Ulimit is one ulimits entry in its long form.
type Ulimit struct {
	Soft int `yaml:"soft"`
	Hard int `yaml:"hard"`
}

// Build is a service's build section.
type Build struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

// Deploy is the part of the deploy section compose honours outside Swarm.
type Deploy struct {
	Replicas string `yaml:"replicas"` // a string: it may hold ${VAR:-n}
}

// Dependency is one depends_on entry.
type Dependency struct {
	Condition string `yaml:"condition"`
	Required  *bool  `yaml:"required"`
}

// DependsOn accepts both the list and the map form.
type DependsOn map[string]Dependency

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *DependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := DependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, s := range names {
			out[s] = Dependency{Condition: "service_started"}
		}
	case yaml.MappingNode:
		m := map[string]Dependency{}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v
		}
	default:
		return fmt.Errorf("depends_on: unexpected YAML kind %d", n.Kind)
	}
	*d = out
	return nil
}

// Env accepts both the map and the KEY=value list form.
type Env map[string]string

// UnmarshalYAML implements yaml.Unmarshaler.
func (e *Env) UnmarshalYAML(n *yaml.Node) error {
	out := Env{}
	switch n.Kind {
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		for _, it := range items {
			k, v, _ := strings.Cut(it, "=")
			out[k] = v
		}
	case yaml.MappingNode:
		m := map[string]*string{}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if v == nil {
				out[k] = "${" + k + "}" // pass-through from the shell
			} else {
				out[k] = *v
			}
		}
	default:
		return fmt.Errorf("environment: unexpected YAML kind %d", n.Kind)
	}
	*e = out
	return nil
}

// Load reads a compose file and interpolates it with env, as
// `docker compose config` would with that shell environment.
func Load(path string, env map[string]string) (*Project, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := interpolateNode(&root, env); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var p Project
	if err := root.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// interpolateNode substitutes variables in every scalar value (not in keys,
// as Compose does).
func interpolateNode(n *yaml.Node, env map[string]string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" || n.Tag == "" || strings.Contains(n.Value, "$") {
			v, err := Interpolate(n.Value, env)
			if err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			if v != n.Value {
				n.Value = v
				n.Tag = "!!str"
				n.Style = 0
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := interpolateNode(n.Content[i], env); err != nil {
				return err
			}
		}
	default:
		for _, c := range n.Content {
			if err := interpolateNode(c, env); err != nil {
				return err
			}
		}
	}
	return nil
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// Interpolate applies Compose's variable syntax: $VAR, ${VAR}, ${VAR:-def},
// ${VAR-def}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}, ${VAR+alt} and $$.
func Interpolate(s string, env map[string]string) (string, error) {
	var firstErr error
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRef.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		v, set := env[name]
		switch op {
		case "":
			return v
		case ":-":
			if v == "" {
				return arg
			}
			return v
		case "-":
			if !set {
				return arg
			}
			return v
		case ":?", "?":
			if (op == ":?" && v == "") || !set {
				if firstErr == nil {
					firstErr = fmt.Errorf("required variable %s is missing: %s", name, arg)
				}
			}
			return v
		case ":+":
			if v != "" {
				return arg
			}
			return ""
		case "+":
			if set {
				return arg
			}
			return ""
		}
		return m
	})
	return out, firstErr
}

// Replicas is the number of containers compose starts for s.
func (s *Service) Replicas() (int, error) {
	if s.Deploy == nil || s.Deploy.Replicas == "" {
		return 1, nil
	}
	return strconv.Atoi(s.Deploy.Replicas)
}

// Names returns the service names, sorted.
func (p *Project) Names() []string {
	var out []string
	for k := range p.Services {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
