//go:build docker

package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"confapplet/deploy/dockerstack"
)

// composeStack is docker-compose.yml up as a project of its own, with the
// stream reader the checks run on its network.
type composeStack struct {
	*dockerstack.Stack
	t    *testing.T
	tool string // streamdump, built for the containers
}

// upCompose starts the stack from the committed docker-compose.yml and the
// images make images built; it is taken down with its volumes when the test
// ends, whatever happened.
func upCompose(t *testing.T) *composeStack {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The stream reader runs in a container on the compose network: a
	// static binary in a directory the images' user 65532 can read.
	dir, err := os.MkdirTemp("", "confapplet-ft-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(dir, "streamdump")
	build := exec.Command("go", "build", "-o", tool, "./streamdump")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build streamdump: %v\n%s", err, out)
	}
	st := dockerstack.Up(t, root, "ft", "CONF_OPERATOR_TOKEN="+operatorToken, "EDGE_AUTH_SECRET="+tokenKey,
		// The call budget is raised on purpose, as in the process test: the
		// load comes from one address (its defaults are tested elsewhere).
		"CONF_CALLS_PER_MINUTE=100000", "CONF_CONFS_PER_MINUTE=100000", "CONF_MAX_LIVE_CALLS=0",
		"CONF_SOURCE_CALLS_PER_MINUTE=0", "CONF_SOURCE_CONFS_PER_MINUTE=0")
	return &composeStack{Stack: st, t: t, tool: tool}
}

// edgeGauge is how many connections the load balancer holds to an edge
// container (its stats: scur of the server slot with the container's
// address): the browsers whose WebSockets go through that edge. It does not
// depend on where the edge serves its own metrics.
func (c *composeStack) edgeGauge(name string) int {
	c.t.Helper()
	ip := strings.TrimSpace(c.Must("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
	n, err := c.LBSessions("edges", ip)
	if err != nil {
		c.t.Errorf("%s: %v", name, err)
	}
	return n
}

// streamInfo is what one NATS node's monitoring endpoint says of a stream.
type streamInfo struct {
	Name  string `json:"name"`
	State struct {
		Msgs    uint64 `json:"messages"`
		LastSeq uint64 `json:"last_seq"`
	} `json:"state"`
	Cluster struct {
		Leader   string `json:"leader"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Lag     uint64 `json:"lag"`
		} `json:"replicas"`
	} `json:"cluster"`
}

// stream asks node's monitoring endpoint (/jsz) about stream.
func (c *composeStack) stream(node, stream string) (*streamInfo, error) {
	out, err := c.Fetch("http://" + node + ":8222/jsz?accounts=true&streams=true")
	if err != nil {
		return nil, err
	}
	var jsz struct {
		Accounts []struct {
			Streams []streamInfo `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.Unmarshal([]byte(out), &jsz); err != nil {
		return nil, fmt.Errorf("%s /jsz: %w", node, err)
	}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return &s, nil
			}
		}
	}
	return nil, fmt.Errorf("%s holds no %s", node, stream)
}

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

// streamLeader is the NATS server leading stream, as the first node that
// answers knows it.
func (c *composeStack) streamLeader(stream string) string {
	for _, node := range natsNodes {
		if s, err := c.stream(node, stream); err == nil && s.Cluster.Leader != "" {
			return s.Cluster.Leader
		}
	}
	return ""
}

// streamStates logs what every NATS node holds of stream: messages, last
// sequence and how current its peers are (a replica that lags after a fault
// answers direct gets from what it has).
func (c *composeStack) streamStates(stream string) {
	for _, node := range natsNodes {
		s, err := c.stream(node, stream)
		if err != nil {
			c.t.Logf("%s: %v", node, err)
			continue
		}
		c.t.Logf("%s: %s messages %d, last seq %d, leader %s, replicas %+v", node, stream, s.State.Msgs, s.State.LastSeq, s.Cluster.Leader, s.Cluster.Replicas)
	}
}

// streamSeqs reads every stored seq of the conferences from the events
// stream, with streamdump in a container on the compose network.
func (c *composeStack) streamSeqs(ctx context.Context, confIDs []string) (map[string][]uint64, error) {
	args := []string{"run", "--rm", "--network", c.Network(), "--volume", filepath.Dir(c.tool) + ":/x:ro",
		"--entrypoint", "/x/streamdump", "confapplet/svc-edge:" + dockerstack.Tag()}
	out, err := dockerstack.Docker(append(args, confIDs...)...)
	if err != nil {
		return nil, err
	}
	m := map[string][]uint64{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("streamdump: %w: %q", err, out)
	}
	return m, nil
}
