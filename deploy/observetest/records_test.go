package observetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/pii"
	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"
	"confapplet/pkg/ytxsim"
)

// callRow is one call of the export, whichever the format.
type callRow struct {
	ConfID   string `json:"confid"`
	Owner    string `json:"owner"`
	Created  string `json:"created"`
	Ended    string `json:"ended"`
	CallID   string `json:"callid"`
	Number   string `json:"number"`
	Invited  string `json:"invited"`
	Answered string `json:"answered"`
	HungUp   string `json:"hungup"`
	Outcome  string `json:"outcome"`
	Result   *int   `json:"result"`
	Duration int64  `json:"duration_s"`
}

var csvHeader = []string{"confid", "owner", "created", "ended", "callid", "number", "invited", "answered", "hungup", "outcome", "result", "duration_s"}

// runRecords runs the built `svc-conference records` with args; stdout
// and stderr.
func runRecords(ctx context.Context, t *testing.T, bin, natsURL string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"records"}, args...)...)
	cmd.Env = []string{"NATS_URL=" + natsURL}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("svc-conference records %v: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String()
}

func parseJSONL(t *testing.T, s string) []callRow {
	t.Helper()
	var rows []callRow
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var r callRow
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("jsonl line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

func parseCSV(t *testing.T, s string) []callRow {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], csvHeader) {
		t.Fatalf("csv header %v, want %v", recs, csvHeader)
	}
	var rows []callRow
	for _, f := range recs[1:] {
		r := callRow{ConfID: f[0], Owner: f[1], Created: f[2], Ended: f[3], CallID: f[4], Number: f[5], Invited: f[6],
			Answered: f[7], HungUp: f[8], Outcome: f[9]}
		if f[10] != "" {
			n, err := strconv.Atoi(f[10])
			if err != nil {
				t.Fatalf("csv result %q", f[10])
			}
			r.Result = &n
		}
		if r.Duration, err = strconv.ParseInt(f[11], 10, 64); err != nil {
			t.Fatalf("csv duration %q", f[11])
		}
		rows = append(rows, r)
	}
	return rows
}

// checkRecords exports the call records as JSON lines (numbers in full)
// and as CSV (masked), and compares both with what the simulator dialled.
func checkRecords(ctx context.Context, t *testing.T, build *testkit.Builder, st *teststack.Stack, tr traffic) {
	bins, err := build.Build(ctx, ".", "./svc-conference")
	if err != nil {
		t.Fatal(err)
	}
	bin := bins[0]
	out, warn := runRecords(ctx, t, bin, st.NATSURL, "-format", "jsonl", "-full-numbers", "-since", "1h")
	if !strings.Contains(warn, "personal data") {
		t.Errorf("-full-numbers gave no warning on stderr: %q", warn)
	}
	compareRecords(t, "jsonl", parseJSONL(t, out), tr, true)
	out, warn = runRecords(ctx, t, bin, st.NATSURL, "-format", "csv")
	if warn != "" {
		t.Errorf("masked export warned: %q", warn)
	}
	compareRecords(t, "csv", parseCSV(t, out), tr, false)
	// A window that ends before the conference did holds none of its calls.
	out, _ = runRecords(ctx, t, bin, st.NATSURL, "-until", tr.dismissed.Add(-time.Minute).Format(time.RFC3339))
	if strings.Contains(out, tr.confID) {
		t.Errorf("-until before the conference ended still exports it:\n%s", out)
	}
}

// compareRecords checks rows against the simulator's calls: one row per
// call dialled, the number (full or masked), outcome and result code,
// answer and hang-up times, and durations within the platform's
// one-second resolution.
func compareRecords(t *testing.T, format string, rows []callRow, tr traffic, full bool) {
	t.Helper()
	got := map[string]callRow{}
	for _, r := range rows {
		if r.ConfID == tr.confID {
			got[r.CallID] = r
		}
	}
	if len(got) != len(tr.dialled) {
		t.Fatalf("%s: %d calls of %s exported, the simulator dialled %d:\n%+v", format, len(got), tr.confID, len(tr.dialled), rows)
	}
	for _, m := range tr.dialled {
		r, ok := got[m.CallSid]
		if !ok {
			t.Errorf("%s: call %s (%s) not exported", format, m.CallSid, m.Number)
			continue
		}
		checkRow(t, format, r, m, tr, full)
	}
}

func checkRow(t *testing.T, format string, r callRow, m ytxsim.MemberSnapshot, tr traffic, full bool) {
	t.Helper()
	errorf := func(f string, a ...any) { t.Errorf(format+" "+m.Number+": "+f, a...) }
	wantNumber := m.Number
	if !full {
		wantNumber = pii.Number(m.Number)
	}
	if r.Number != wantNumber || r.Owner != tr.owner {
		errorf("number %q owner %q, want %q %q", r.Number, r.Owner, wantNumber, tr.owner)
	}
	near(t, errorf, "invited", r.Invited, m.Invited, 2*time.Second)
	near(t, errorf, "created", r.Created, m.Invited, 5*time.Second)
	ended := parse(r.Ended)
	if ended.Before(tr.dismissed.Add(-time.Second)) || ended.After(tr.deleted.Add(time.Second)) {
		errorf("ended %s, dismissed at %s, gone by %s", r.Ended, tr.dismissed, tr.deleted)
	}
	switch m.State {
	case "failed":
		if r.Outcome != "failed" || r.Result == nil || *r.Result != m.Result || r.Answered != "" || r.Duration != 0 {
			errorf("outcome %s result %v answered %q duration %d, want failed with result %d", r.Outcome, r.Result, r.Answered, r.Duration, m.Result)
		}
	case "left", "joined":
		if r.Outcome != "answered" || r.Result == nil || *r.Result != 0 {
			errorf("outcome %s result %v, want answered 0", r.Outcome, r.Result)
		}
		near(t, errorf, "answered", r.Answered, m.Joined, time.Second)
		left := m.Left
		if m.State == "joined" { // hung up when the conference was dismissed
			left = tr.dismissed
		}
		near(t, errorf, "hung up", r.HungUp, left, 2*time.Second)
		if want := left.Sub(m.Joined).Seconds(); float64(r.Duration) < want-2 || float64(r.Duration) > want+2 {
			errorf("duration %d s, the simulator's call lasted %.1f s", r.Duration, want)
		}
		if m.Number == numHangsUp && (r.Duration < 1 || r.Duration > 3) {
			errorf("duration %d s, the rule hangs up after %s", r.Duration, hangupAfter)
		}
	default:
		errorf("the simulator left it %s", m.State)
	}
}

func parse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// near checks the exported time s is within tol of want.
func near(t *testing.T, errorf func(string, ...any), what, s string, want time.Time, tol time.Duration) {
	t.Helper()
	got, err := time.Parse(time.RFC3339, s)
	if err != nil {
		errorf("%s %q: %v", what, s, err)
		return
	}
	if d := got.Sub(want); d < -tol || d > tol {
		errorf("%s %s, the simulator says %s", what, s, want.Format(time.RFC3339Nano))
	}
}
