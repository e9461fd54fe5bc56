// Package privacytest checks, on the real binaries started as processes with
// their default settings, what docs/operations.md ("Personal data")
// promises: no full phone number in any service's logs, and the erase
// command removing a number, or a conference, from every store.
package privacytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"
	"confapplet/pkg/token"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	secret   = "privacy-callback-secret"
	tokenKey = "privacy-token-key" // the edge's HS256 key: the browser connects with a token
	// The numbers invited; none may appear in full in any log.
	erased   = "13800138005" // invited into two conferences, then erased
	kept     = "13912345678" // invited next to it, kept
	landline = "01062345678" // a Beijing landline
	later    = "13712345670" // invited after the erasure
	// In the refused callbacks only.
	refusedTo, refusedFrom = "13612345678", "+8613512345678"
)

var repoRoot = filepath.Join("..", "..")

// TestPersonalData runs, on one stack of processes at LOG_LEVEL=debug:
// a create/invite/quit run, two refused callbacks carrying numbers, the
// erasure of a number and of a conference (each store read back after
// each), a further invitation (the system still works), and at the end
// reads every line every process wrote.
func TestPersonalData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	build := &testkit.Builder{Root: repoRoot, Dir: filepath.Join(dir, "bin")}
	st, err := teststack.Start(ctx, teststack.Options{Dir: dir, Build: build, LogLevel: "debug", Secret: secret,
		Edge: map[string]string{"EDGE_AUTH_SECRET": tokenKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	eraseBin, err := build.Build(ctx, ".", "./deploy/erase")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)

	b, err := client.Dial(ctx, st.Edges[0].WS(), "alice", client.WithTokenSource(func(context.Context) (string, error) {
		return token.Sign(tokenKey, "", token.New("alice", time.Now(), time.Hour))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	// Create, invite (with idempotency keys, so those records exist too),
	// wait until everyone joined, and hang one up.
	conf1, conf2 := create(ctx, t, b), create(ctx, t, b)
	callErased := invite(ctx, t, b, conf1, erased, "k-erased-1")
	invite(ctx, t, b, conf1, kept, "k-kept")
	invite(ctx, t, b, conf1, landline, "")
	invite(ctx, t, b, conf2, erased, "k-erased-2")
	waitMembers(ctx, t, b, conf1, 3, contract.MemberJoined)
	waitMembers(ctx, t, b, conf2, 1, contract.MemberJoined)
	// A conference that ended: its call record (confapplet_finished)
	// holds the number too.
	conf3 := create(ctx, t, b)
	invite(ctx, t, b, conf3, erased, "")
	waitMembers(ctx, t, b, conf3, 1, contract.MemberJoined)
	if err := b.DismissConf(ctx, conf3); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, b, conf3)
	if err := b.QuitConf(ctx, conf1, callErased); err != nil {
		t.Fatal(err)
	}
	waitMember(ctx, t, b, conf1, callErased, contract.MemberLeft)
	if n := countIn(ctx, t, js, erased); n == 0 {
		t.Fatal("the number is in no store before the erasure: the test reads the wrong stores")
	}

	// Refused callbacks: one the service cannot parse (kept raw, answered
	// 200, logged "not understood"), one too large (413).
	body := fmt.Sprintf(`<?xml version="1.0"?><Request><action>invite</action><to>%s</to><from>%s</from></Request>`, refusedTo, refusedFrom)
	post(t, st.CallbackURL+"/invite", body)
	if code := post(t, st.CallbackURL+"/invite", body+strings.Repeat(" ", 70<<10)); code < 400 {
		t.Fatalf("oversized callback answered %d", code)
	}

	// Erase the number (as an operator would type it).
	out := runErase(ctx, t, eraseBin[0], st.NATSURL, "-number", "+86 138-0013-8005")
	for _, want := range []string{"erase number 138****8005: removed", "members' numbers in conference records (KV confapplet_conferences): 2",
		"members' numbers in call records (KV confapplet_finished): 1", "idempotency records (KV confapplet_idempotency): 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "callbacks as received (stream CALLBACK_RAW): 0\n") {
		t.Errorf("the number's callbacks as received were not erased:\n%s", out)
	}
	if n := countIn(ctx, t, js, erased); n != 0 {
		t.Fatalf("after the erasure %d stored messages still hold %s", n, erased)
	}
	if n := countIn(ctx, t, js, kept); n == 0 {
		t.Fatalf("the erasure removed %s too", kept)
	}
	c := getConf(ctx, t, b, conf1)
	if m := member(c, callErased); m == nil || m.Number != "" || m.State != contract.MemberLeft {
		t.Fatalf("erased member in GetConf: %+v", m)
	}

	// Everyone else goes on: a new invitation in the same conference is
	// stored with the next seq, applied, and pushed to the watcher.
	before := c.LastSeq
	callLater := invite(ctx, t, b, conf1, later, "")
	c = waitMember(ctx, t, b, conf1, callLater, contract.MemberJoined)
	if c.LastSeq <= before {
		t.Fatalf("seq after the erasure %d, before %d", c.LastSeq, before)
	}
	// Once settled, the stream, the conference and the watcher agree.
	var seqs []uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		seqs = storedSeqs(ctx, t, js, conf1)
		c = getConf(ctx, t, b, conf1)
		if len(seqs) > 0 && seqs[len(seqs)-1] == c.LastSeq && b.LastSeq(conf1) == c.LastSeq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored seqs %v, conference at %d, watcher at %d", seqs, c.LastSeq, b.LastSeq(conf1))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !increasing(seqs) {
		t.Fatalf("conference %s's stored seqs after the erasure %v: each must be new and increasing", conf1, seqs)
	}

	// Erase a conference.
	out = runErase(ctx, t, eraseBin[0], st.NATSURL, "-conf", conf2)
	if !strings.Contains(out, "conference records (KV confapplet_conferences): 1") || !strings.Contains(out, "owner keys (KV confapplet_owners): 1") {
		t.Errorf("report:\n%s", out)
	}
	if n := countIn(ctx, t, js, `"`+conf2+`"`, "."+conf2+"."); n != 0 {
		t.Fatalf("after erasing conference %s, %d stored messages still name it", conf2, n)
	}
	out = runErase(ctx, t, eraseBin[0], st.NATSURL, "-conf", conf3)
	if !strings.Contains(out, "call records (KV confapplet_finished): 1") {
		t.Errorf("report:\n%s", out)
	}
	if n := countIn(ctx, t, js, `"`+conf3+`"`, "."+conf3+"."); n != 0 {
		t.Fatalf("after erasing ended conference %s, %d stored messages still name it", conf3, n)
	}
	var rerr *client.RPCError
	if _, err := b.GetConf(ctx, conf2); !errors.As(err, &rerr) || rerr.Code != contract.Spec(contract.CodeConfNotFound).RPC {
		t.Fatalf("GetConf of the erased conference: %v, want conference not found", err)
	}
	if c := getConf(ctx, t, b, conf1); member(c, callLater) == nil {
		t.Fatalf("the other conference lost its members: %+v", c)
	}

	// Not one full number in any line of any process.
	b.Close()
	st.Stop()
	checkLogs(t, st.Procs(), out)
}

// checkLogs reads every process's log file and fails on any full number;
// it also checks that the masked forms are there, so the lines that carry
// numbers were written at all.
func checkLogs(t *testing.T, procs []*testkit.Proc, eraseOut string) {
	t.Helper()
	var all bytes.Buffer
	for _, p := range procs {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	all.WriteString(eraseOut)
	logs := all.String()
	for _, n := range []string{erased, kept, landline, later, refusedTo, strings.TrimPrefix(refusedFrom, "+86")} {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, n) {
				t.Errorf("full number %s in a log line: %s", n, line)
			}
		}
	}
	for _, masked := range []string{`"number":"138****8005"`, `"number":"139****5678"`, `"number":"010****5678"`, "136****5678", "+86135****5678"} {
		if !strings.Contains(logs, masked) {
			t.Errorf("no log line has %s: the lines that carry numbers were not written", masked)
		}
	}
	if strings.Count(logs, "\n") < 50 {
		t.Errorf("only %d log lines: not the logs of a run", strings.Count(logs, "\n"))
	}
}

// countIn reads every message of every stream (the events, every KV
// bucket's stream, and any other) and counts those that contain one of
// needles.
func countIn(ctx context.Context, t *testing.T, js jetstream.JetStream, needles ...string) int {
	t.Helper()
	n := 0
	for name := range js.StreamNames(ctx).Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted
			}
			raw := string(m.Data) + fmt.Sprint(m.Header) + m.Subject
			if slices.ContainsFunc(needles, func(s string) bool { return strings.Contains(raw, s) }) {
				n++
			}
		}
	}
	return n
}

// storedSeqs is the per-conference seq of each stored event of confID, in
// stream order.
func storedSeqs(ctx context.Context, t *testing.T, js jetstream.JetStream, confID string) []uint64 {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.EventsSubject(confID)}})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return seqs
		}
		var ev contract.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ev.Seq)
	}
}

func increasing(s []uint64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return len(s) > 0
}

func runErase(ctx context.Context, t *testing.T, bin, natsURL string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-nats", natsURL}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erase %v: %v\n%s", args, err, out)
	}
	t.Logf("erase %v:\n%s", args, out)
	return string(out)
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func create(ctx context.Context, t *testing.T, b *client.Client) string {
	t.Helper()
	id, err := b.CreateConf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func invite(ctx context.Context, t *testing.T, b *client.Client, confID, number, key string) string {
	t.Helper()
	id, err := b.InviteJoinConfWith(ctx, client.InviteParams{ConfID: confID, Number: number, IdempotencyKey: key})
	if err != nil {
		t.Fatalf("invite %s: %v", number, err)
	}
	return id
}

func getConf(ctx context.Context, t *testing.T, b *client.Client, confID string) *contract.Conference {
	t.Helper()
	c, err := b.GetConf(ctx, confID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func member(c *contract.Conference, callID string) *contract.Member {
	for i := range c.Members {
		if c.Members[i].CallID == callID {
			return &c.Members[i]
		}
	}
	return nil
}

// waitGone waits until the platform deleted confID and svc-conference
// removed its record.
func waitGone(ctx context.Context, t *testing.T, b *client.Client, confID string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var rerr *client.RPCError
		_, err := b.GetConf(ctx, confID)
		if errors.As(err, &rerr) && rerr.Code == contract.Spec(contract.CodeConfNotFound).RPC {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conference %s not deleted: %v", confID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMember(ctx context.Context, t *testing.T, b *client.Client, confID, callID, state string) *contract.Conference {
	t.Helper()
	var c *contract.Conference
	testkit.Eventually(t, callID+" "+state, 15*time.Second, func() bool {
		c = getConf(ctx, t, b, confID)
		m := member(c, callID)
		return m != nil && m.State == state
	})
	return c
}

func waitMembers(ctx context.Context, t *testing.T, b *client.Client, confID string, n int, state string) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d members %s in %s", n, state, confID), 15*time.Second, func() bool {
		c := getConf(ctx, t, b, confID)
		k := 0
		for _, m := range c.Members {
			if m.State == state {
				k++
			}
		}
		return k == n
	})
}
