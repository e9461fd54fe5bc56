package conference

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
)

// A conference the platform deletes leaves its record, as it ended, in
// FinishedBucket, and `svc-conference records` exports its calls from
// there: the answered one with its times and duration (also one whose
// hang-up was never reported: until the conference's end), the failed one
// with the platform's code, the one never reported on as no_result.
func TestFinishedConferenceRecords(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	confID := e.create("alice", 5)
	callA := e.invite("alice", confID, "13812345678")
	callB := e.invite("alice", confID, "13812345679")
	callC := e.invite("alice", confID, "13812345670")
	callD := e.invite("alice", confID, "13812345671")
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callA, Result: intp(0), Time: "20261128120010"})
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callB, Result: intp(1), Time: "20261128120011"})
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callD, Result: intp(0), Time: "20261128120012"})
	e.publishEvent(contract.Event{Kind: contract.KindQuit, ConfID: confID, CallID: callA, Time: "20261128120110"})
	e.publishEvent(contract.Event{Kind: contract.KindDeleted, ConfID: confID, Time: "20261128120200"})
	testkit.Eventually(t, "record removed", 10*time.Second, func() bool {
		_, cerr := e.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})

	var out, warn bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"NATS_URL": e.ns.ClientURL(), "CONF_TIME_ZONE": "Asia/Shanghai"}[k]
	}
	if err := runRecords(context.Background(), []string{"-format", "csv", "-full-numbers"}, getenv, &out, &warn); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want a header and 4 calls:\n%v", len(rows), rows)
	}
	want := map[string]string{ // callid → number,answered,hungup,outcome,result,duration_s
		callA: "13812345678,2026-11-28T12:00:10+08:00,2026-11-28T12:01:10+08:00,answered,0,60",
		callB: "13812345679,,,failed,1,0",
		callC: "13812345670,,,no_result,,0",
		callD: "13812345671,2026-11-28T12:00:12+08:00,,answered,0,108",
	}
	for _, r := range rows[1:] {
		if r[0] != confID || r[1] != "alice" || r[3] != "2026-11-28T12:02:00+08:00" {
			t.Errorf("conference fields %v", r[:4])
		}
		got := strings.Join([]string{r[5], r[7], r[8], r[9], r[10], r[11]}, ",")
		if got != want[r[4]] {
			t.Errorf("call %s: %s, want %s", r[4], got, want[r[4]])
		}
	}
	if !strings.Contains(warn.String(), "personal data") {
		t.Errorf("no warning for -full-numbers: %q", warn.String())
	}

	// Masked by default; a window that ended before holds nothing.
	out.Reset()
	if err := runRecords(context.Background(), []string{"-format", "jsonl"}, getenv, &out, &warn); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "13812345678") || !strings.Contains(out.String(), `"number":"138****5678"`) {
		t.Errorf("numbers not masked:\n%s", out.String())
	}
	out.Reset()
	if err := runRecords(context.Background(), []string{"-until", "2026-11-28T03:00:00Z"}, getenv, &out, &warn); err != nil || out.Len() != 0 {
		t.Errorf("-until before the end: %v\n%s", err, out.String())
	}
}

// AuthorizeWatch of a conference that has ended answers {"ended":true} to
// whoever could watch it live (the owner, a watch grant, an operator), so
// the edge replays what its client missed, and conf_not_found to anyone
// else, as for a confid never used. When the platform reuses the confid,
// the newest conference under it decides.
func TestAuthorizeWatchEnded(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(func(c *Config) { c.OperatorToken = "s3cret-operator" })
	confID := e.create("alice", 3)
	e.publishEvent(contract.Event{Kind: contract.KindDeleted, ConfID: confID, Time: "20261128120200"})
	testkit.Eventually(t, "record removed", 10*time.Second, func() bool {
		_, cerr := e.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})
	req := contract.ConfRequest{ConfID: confID}
	for name, h := range map[string]nats.Header{
		"owner":    hdr("alice"),
		"grant":    hdr("viewer", contract.HeaderWatch, "1234,"+confID),
		"operator": hdr("console", contract.HeaderOperator, "s3cret-operator"),
	} {
		res, cerr := e.call(contract.MethodAuthorizeWatch, h, req)
		if cerr != nil || string(res) != `{"ended":true}` {
			t.Errorf("%s: %s, %v; want {\"ended\":true}", name, res, cerr)
		}
	}
	for _, h := range []nats.Header{hdr("mallory"), hdr("mallory", contract.HeaderWatch, "1234"),
		hdr("mallory", contract.HeaderOperator, "guess")} {
		e.fails(contract.CodeConfNotFound, contract.MethodAuthorizeWatch, h, req)
	}
	e.fails(contract.CodeConfNotFound, contract.MethodAuthorizeWatch, hdr("alice"), contract.ConfRequest{ConfID: "99999999"})
	// The other methods still answer conf_not_found to the owner.
	e.fails(contract.CodeConfNotFound, contract.MethodGetConf, hdr("alice"), req)

	// The same confid, archived again for bob (a reused confid): alice's
	// ended conference is no longer the one its events end with.
	reused := &record{V: 1, ConfID: confID, Owner: "bob", Created: time.Now().Add(time.Minute), Members: map[string]*member{}}
	if err := svc.st.archive(context.Background(), reused); err != nil {
		t.Fatal(err)
	}
	e.fails(contract.CodeConfNotFound, contract.MethodAuthorizeWatch, hdr("alice"), req)
	if res, cerr := e.call(contract.MethodAuthorizeWatch, hdr("bob"), req); cerr != nil || string(res) != `{"ended":true}` {
		t.Errorf("bob: %s, %v", res, cerr)
	}
}
