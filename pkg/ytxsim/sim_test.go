package ytxsim

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

var ctx = context.Background()

func statusCode(t *testing.T, err error) string {
	t.Helper()
	var se *yuntongxun.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a StatusError", err)
	}
	return se.StatusCode
}

// TestEveryCommand drives every command through the real client and checks
// the answers and the callbacks, in order, with their fields.
func TestEveryCommand(t *testing.T) {
	h := newHarness(t, nil)
	res, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{8}$`).MatchString(res.ConfID) || res.VoipToConfID == "" {
		t.Fatalf("CreateConf = %+v", res)
	}
	created := h.rx.expect(t, "created")[0]
	if created.f["confid"] != res.ConfID || created.f["createtime"] != platformTime(0) || created.root != "request" ||
		!strings.HasPrefix(created.ctype, "text/plain") {
		t.Errorf("created callback %+v", created)
	}
	if _, ok := created.f["callSid"]; !ok {
		t.Errorf("created callback lacks callSid: %s", created.body)
	}

	const number = "13912345678"
	inv, err := h.c.InviteJoinConf(ctx, res.ConfID, number, yuntongxun.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.CallSid) != 32 || inv.OrderID == "" {
		t.Fatalf("invite = %+v", inv)
	}
	st, err := h.c.QueryConfState(ctx, res.ConfID)
	if err != nil || st != (yuntongxun.ConfState{State: 1, Count: 0}) {
		t.Fatalf("state while ringing = %+v %v", st, err)
	}
	d := AnswerDelay(number)
	h.clock.Advance(d - time.Millisecond)
	h.rx.none(t, h.sim)
	h.clock.Advance(time.Millisecond)
	joined := h.rx.expect(t, "invite")[0]
	want := map[string]string{"confid": res.ConfID, "callSid": inv.CallSid, "number": number, "result": "0",
		"jointime": platformTime(d)}
	for k, v := range want {
		if joined.f[k] != v {
			t.Errorf("invite callback %s = %q, want %q (%s)", k, joined.f[k], v, joined.body)
		}
	}
	if st, _ := h.c.QueryConfState(ctx, res.ConfID); st.Count != 1 {
		t.Errorf("count after join = %d", st.Count)
	}

	if err := h.c.ConfMute(ctx, res.ConfID, inv.CallSid); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "4" || m.f["result"] != "0" || m.f["callSid"] != inv.CallSid {
		t.Errorf("mute media %s", m.body)
	}
	if err := h.c.ConfUnMute(ctx, res.ConfID, inv.CallSid); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "14" {
		t.Errorf("unmute media %s", m.body)
	}
	if err := h.c.ConfPlay(ctx, res.ConfID, yuntongxun.PlayOptions{FileName: "a.wav", Loop: -1}); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "1" || m.f["state"] != "1" {
		t.Errorf("play media %s", m.body)
	}
	if err := h.c.ConfStopPlay(ctx, res.ConfID); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "11" || m.f["state"] != "11" {
		t.Errorf("stop play media %s", m.body)
	}
	if err := h.c.ConfStopPlay(ctx, res.ConfID); statusCode(t, err) != yuntongxun.CodeConfAPIFailed {
		t.Errorf("second stop play: %v", err)
	}
	if err := h.c.ConfRecord(ctx, res.ConfID, yuntongxun.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "2" || m.f["state"] != "2" {
		t.Errorf("record media %s", m.body)
	}
	h.clock.Advance(7 * time.Second)
	if err := h.c.ConfStopRecord(ctx, res.ConfID); err != nil {
		t.Fatal(err)
	}
	if m := h.rx.expect(t, "media")[0]; m.f["notifytype"] != "12" || m.f["state"] != "12" || m.f["recordduration"] != "7" || m.f["recordurl"] == "" {
		t.Errorf("stop record media %s", m.body)
	}

	if err := h.c.QuitConf(ctx, res.ConfID, inv.CallSid); err != nil {
		t.Fatal(err)
	}
	cbs := h.rx.expect(t, "quit", "deleted")
	if q := cbs[0]; q.f["callSid"] != inv.CallSid || q.f["number"] != number || q.f["jointime"] == "" || q.f["quittime"] != q.f["jointime"] {
		t.Errorf("quit callback %s", q.body)
	}
	if cbs[1].f["confid"] != res.ConfID || cbs[1].f["deltime"] == "" {
		t.Errorf("deleted callback %s", cbs[1].body)
	}
	// The last member left: the conference is gone.
	if _, err := h.c.QueryConfState(ctx, res.ConfID); statusCode(t, err) != yuntongxun.CodeBadConfID {
		t.Errorf("query after delete: %v", err)
	}
	for _, err := range []error{
		h.c.DismissConf(ctx, res.ConfID, yuntongxun.DismissConfOptions{}),
		h.c.ConfMute(ctx, res.ConfID, inv.CallSid),
		h.c.ConfRecord(ctx, res.ConfID, yuntongxun.RecordOptions{}),
	} {
		if statusCode(t, err) != yuntongxun.CodeBadConfID {
			t.Errorf("command on a deleted conference: %v", err)
		}
	}
	_, err = h.c.InviteJoinConf(ctx, res.ConfID, number, yuntongxun.InviteOptions{})
	if statusCode(t, err) != yuntongxun.CodeBadConfID {
		t.Errorf("invite into a deleted conference: %v", err)
	}
	h.rx.none(t, h.sim)
}

func TestMaxMember(t *testing.T) {
	h := newHarness(t, nil)
	for _, n := range []int{2, 301, -1} {
		_, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: n})
		if statusCode(t, err) != yuntongxun.CodeBadParam {
			t.Errorf("maxmember %d: %v", n, err)
		}
	}
	for _, n := range []int{3, 300} {
		if _, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: n}); err != nil {
			t.Errorf("maxmember %d: %v", n, err)
		}
	}
	// Default 3: a fourth member is refused, and nobody is dialled for it.
	res, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.InviteJoinConf(ctx, res.ConfID, "13900000001#13900000002", yuntongxun.InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(h.sim.Calls())
	_, err = h.c.InviteJoinConf(ctx, res.ConfID, "13900000003#13900000004", yuntongxun.InviteOptions{})
	if statusCode(t, err) != yuntongxun.CodeConfFull {
		t.Errorf("over maxmember: %v", err)
	}
	if len(h.sim.Calls()) != before {
		t.Error("a refused invitation dialled")
	}
	if _, err := h.c.InviteJoinConf(ctx, res.ConfID, "13900000003", yuntongxun.InviteOptions{}); err != nil {
		t.Errorf("third member: %v", err)
	}
}

// TestTestNumbers proves the default rules: busy, no answer only after the
// timeout, invalid, answer-then-hang-up, each with its result code.
func TestTestNumbers(t *testing.T) {
	h := newHarness(t, nil)
	res, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 10})
	if err != nil {
		t.Fatal(err)
	}
	h.rx.expect(t, "created")
	invite := func(n string) string {
		r, err := h.c.InviteJoinConf(ctx, res.ConfID, n, yuntongxun.InviteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.CallSid
	}
	stay := invite("13900000000") // keeps the conference alive
	invalid := invite(NumberInvalid)
	busy := invite(NumberBusy)
	noAnswer := invite(NumberNoAnswer)
	hangs := invite(NumberHangsUp)

	h.clock.Advance(DefaultInvalidDelay)
	if c := h.rx.expect(t, "invite")[0]; c.f["callSid"] != invalid || c.f["result"] != "3" {
		t.Errorf("invalid: %s", c.body)
	}
	h.clock.Advance(2*time.Second - DefaultInvalidDelay)
	got := map[string]string{}
	for _, c := range h.rx.expect(t, "invite", "invite", "invite") {
		got[c.f["callSid"]] = c.f["result"]
	}
	if got[busy] != "1" || got[stay] != "0" || got[hangs] != "0" {
		t.Errorf("after 2 s: %v", got)
	}
	h.rx.none(t, h.sim)
	// The hang-up number leaves 5 s after it answered.
	joinedAt := AnswerDelay(NumberHangsUp)
	h.clock.Advance(joinedAt + HangsUpAfter - 2*time.Second)
	if c := h.rx.expect(t, "quit")[0]; c.f["callSid"] != hangs {
		t.Errorf("quit: %s", c.body)
	}
	// No answer: nothing until 30 s, then result 2.
	h.clock.Advance(NoAnswerTimeout - time.Millisecond - (joinedAt + HangsUpAfter))
	h.rx.none(t, h.sim)
	h.clock.Advance(time.Millisecond)
	if c := h.rx.expect(t, "invite")[0]; c.f["callSid"] != noAnswer || c.f["result"] != "2" {
		t.Errorf("no answer: %s", c.body)
	}
	if st, err := h.c.QueryConfState(ctx, res.ConfID); err != nil || st.Count != 1 {
		t.Errorf("state %+v %v", st, err)
	}
}

func TestAutoDelete(t *testing.T) {
	h := newHarness(t, nil)
	res, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.rx.expect(t, "created")
	h.clock.Advance(DefaultAutoDeleteAfter - time.Second)
	if _, err := h.c.QueryConfState(ctx, res.ConfID); err != nil {
		t.Fatalf("deleted early: %v", err)
	}
	h.rx.none(t, h.sim)
	h.clock.Advance(time.Second)
	if c := h.rx.expect(t, "deleted")[0]; c.f["deltime"] != platformTime(DefaultAutoDeleteAfter) {
		t.Errorf("deleted: %s", c.body)
	}
	if _, err := h.c.QueryConfState(ctx, res.ConfID); statusCode(t, err) != yuntongxun.CodeBadConfID {
		t.Errorf("after auto-delete: %v", err)
	}

	// Configurable, and a joined member keeps the conference.
	h2 := newHarness(t, func(c *Config) { c.AutoDeleteAfter = time.Minute })
	r2, _ := h2.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	r3, _ := h2.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if _, err := h2.c.InviteJoinConf(ctx, r3.ConfID, "13900000000", yuntongxun.InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	h2.clock.Advance(time.Minute)
	if _, err := h2.c.QueryConfState(ctx, r2.ConfID); statusCode(t, err) != yuntongxun.CodeBadConfID {
		t.Errorf("AutoDeleteAfter not applied: %v", err)
	}
	if st, err := h2.c.QueryConfState(ctx, r3.ConfID); err != nil || st.Count != 1 {
		t.Errorf("conference with a member deleted: %+v %v", st, err)
	}

	// autodelete=false: neither the timer nor the last member leaving deletes it.
	no := false
	r4, _ := h2.c.CreateConf(ctx, yuntongxun.CreateConfOptions{AutoDelete: &no})
	inv, _ := h2.c.InviteJoinConf(ctx, r4.ConfID, "13900000000", yuntongxun.InviteOptions{})
	h2.clock.Advance(time.Hour)
	if err := h2.c.QuitConf(ctx, r4.ConfID, inv.CallSid); err != nil {
		t.Fatal(err)
	}
	if st, err := h2.c.QueryConfState(ctx, r4.ConfID); err != nil || st.Count != 0 {
		t.Errorf("permanent conference: %+v %v", st, err)
	}
}

// TestDismissOrder proves the causal order of a dismissal: dismissed, a
// quit per joined member, cancelled invitations, then deleted.
func TestDismissOrder(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
	a, _ := h.c.InviteJoinConf(ctx, res.ConfID, "13900000001", yuntongxun.InviteOptions{})
	b, _ := h.c.InviteJoinConf(ctx, res.ConfID, "13900000002", yuntongxun.InviteOptions{})
	h.clock.Advance(2 * time.Second)
	ringing, _ := h.c.InviteJoinConf(ctx, res.ConfID, NumberNoAnswer, yuntongxun.InviteOptions{})
	h.rx.expect(t, "created", "invite", "invite")
	if err := h.c.DismissConf(ctx, res.ConfID, yuntongxun.DismissConfOptions{}); err != nil {
		t.Fatal(err)
	}
	cbs := h.rx.expect(t, "dismissed", "quit", "quit", "invite", "deleted")
	if cbs[0].f["status"] != "0" || cbs[1].f["callSid"] != a.CallSid || cbs[2].f["callSid"] != b.CallSid ||
		cbs[3].f["callSid"] != ringing.CallSid || cbs[3].f["result"] != "4" {
		t.Errorf("dismiss callbacks: %v", cbs)
	}
	if len(h.sim.Conferences()) != 0 {
		t.Error("dismissed conference still listed")
	}
	// Nothing fires later: the timers of the conference are stopped.
	h.clock.Advance(time.Hour)
	h.rx.none(t, h.sim)
}

// TestCallbackRetries proves failed deliveries are retried with backoff and
// the same bytes, and that a conference's later callbacks wait their turn.
func TestCallbackRetries(t *testing.T) {
	h := newHarness(t, nil)
	h.rx.status = func(kind string, attempt int) int {
		if kind == "created" && attempt <= 2 {
			return 503
		}
		return 200
	}
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if _, err := h.c.InviteJoinConf(ctx, res.ConfID, NumberInvalid, yuntongxun.InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	first := h.rx.expect(t, "created")[0]
	// Timers: auto-delete, the invalid number's, and now the retry.
	if !h.clock.BlockUntil(3, 5*time.Second) {
		t.Fatal("retry not scheduled")
	}
	h.clock.Advance(DefaultInvalidDelay) // the call fails, but its callback must wait
	h.clock.Advance(time.Second - DefaultInvalidDelay)
	second := h.rx.expect(t, "created")[0]
	if !h.clock.BlockUntil(2, 5*time.Second) { // auto-delete + retry
		t.Fatal("second retry not scheduled")
	}
	h.clock.Advance(2*time.Second - time.Millisecond) // backoff doubles
	select {
	case c := <-h.rx.ch:
		t.Fatalf("retried before the backoff: %s", c.kind)
	case <-time.After(20 * time.Millisecond):
	}
	h.clock.Advance(time.Millisecond)
	third := h.rx.expect(t, "created", "invite")[0]
	if first.body != second.body || second.body != third.body {
		t.Errorf("retried bodies differ:\n%s\n%s\n%s", first.body, second.body, third.body)
	}
	var attempts []int
	for _, d := range h.sim.Deliveries() {
		if d.Kind == "created" {
			attempts = append(attempts, d.Status)
		}
	}
	if len(attempts) != 3 || attempts[0] != 503 || attempts[2] != 200 {
		t.Errorf("delivery log %v", attempts)
	}
}

func TestCallbackDroppedAfterRetries(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Retries = 1 })
	h.rx.status = func(kind string, _ int) int {
		if kind == "created" {
			return 500
		}
		return 200
	}
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	h.rx.expect(t, "created")
	h.clock.BlockUntil(2, 5*time.Second)
	h.clock.Advance(time.Second)
	h.rx.expect(t, "created")
	waitIdle(t, h.sim)
	// The queue moves on after the last retry.
	if err := h.c.DismissConf(ctx, res.ConfID, yuntongxun.DismissConfOptions{}); err != nil {
		t.Fatal(err)
	}
	h.rx.expect(t, "dismissed", "deleted")
}

func TestCallbackFormats(t *testing.T) {
	cases := []struct {
		f          CallbackFormat
		root, ctyp string
	}{
		{FormatXMLLowerText, "request", "text/plain"},
		{FormatXML, "Request", "application/xml"},
		{FormatXMLText, "Request", "text/plain"},
		{FormatXMLLower, "request", "application/xml"},
		{FormatForm, "", "application/x-www-form-urlencoded"},
	}
	for _, tc := range cases {
		t.Run(string(tc.f), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Format = tc.f })
			res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
			c := h.rx.expect(t, "created")[0]
			if c.root != tc.root || !strings.HasPrefix(c.ctype, tc.ctyp) || c.f["confid"] != res.ConfID || c.f["createtime"] != platformTime(0) {
				t.Errorf("got root %q type %q fields %v", c.root, c.ctype, c.f)
			}
			if tc.root != "" && !strings.HasPrefix(c.body, `<?xml version="1.0" encoding="UTF-8"?><`+tc.root+`><confid>`) {
				t.Errorf("body %s", c.body)
			}
		})
	}
	if _, err := ParseCallbackFormat("json"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestCallIDField(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CallIDField = "callid"; c.Format = FormatForm })
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	inv, _ := h.c.InviteJoinConf(ctx, res.ConfID, NumberInvalid, yuntongxun.InviteOptions{})
	h.clock.Advance(time.Second)
	c := h.rx.expect(t, "created", "invite")[1]
	if c.f["callid"] != inv.CallSid || c.f["callSid"] != "" {
		t.Errorf("callid field: %s", c.body)
	}
}

func TestNumberListAndCallLog(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
	inv, err := h.c.InviteJoinConf(ctx, res.ConfID, "13900000001#02150001234#", yuntongxun.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calls := h.sim.Calls()
	if len(calls) != 2 || calls[0].Number != "13900000001" || calls[1].Number != "02150001234" ||
		calls[0].CallSid != inv.CallSid || calls[1].CallSid == inv.CallSid || calls[0].ConfID != res.ConfID ||
		!calls[0].Time.Equal(start) {
		t.Errorf("calls %+v (first callSid %s)", calls, inv.CallSid)
	}
	h.clock.Advance(2 * time.Second)
	if st, _ := h.c.QueryConfState(ctx, res.ConfID); st.Count != 2 {
		t.Errorf("count %d", st.Count)
	}
	confs := h.sim.Conferences()
	if len(confs) != 1 || len(confs[0].Members) != 2 || confs[0].Members[1].State != "joined" {
		t.Errorf("confs %+v", confs)
	}
}

func TestQuitAndHangupErrors(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err := h.c.QuitConf(ctx, res.ConfID, strings.Repeat("0", 32)); statusCode(t, err) != yuntongxun.CodeQuitFailed {
		t.Errorf("quit unknown call: %v", err)
	}
	inv, _ := h.c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	if err := h.c.ConfMute(ctx, res.ConfID, inv.CallSid); statusCode(t, err) != yuntongxun.CodeMuteFailed {
		t.Errorf("mute a ringing call: %v", err)
	}
	// Quitting a ringing call cancels the invitation.
	if err := h.c.QuitConf(ctx, res.ConfID, inv.CallSid); err != nil {
		t.Fatal(err)
	}
	if c := h.rx.expect(t, "created", "invite")[1]; c.f["result"] != "4" {
		t.Errorf("cancel: %s", c.body)
	}
	if err := h.c.QuitConf(ctx, res.ConfID, inv.CallSid); statusCode(t, err) != yuntongxun.CodeQuitFailed {
		t.Errorf("quit twice: %v", err)
	}
	if err := h.sim.Hangup("nope"); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("hangup unknown: %v", err)
	}
	// A ringing call hung up by the control API is rejected.
	inv2, _ := h.c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	if err := h.sim.Hangup(inv2.CallSid); err != nil {
		t.Fatal(err)
	}
	if c := h.rx.expect(t, "invite")[0]; c.f["result"] != "5" {
		t.Errorf("reject: %s", c.body)
	}
	h.clock.Advance(time.Minute)
	h.rx.none(t, h.sim)
}

// TestConfDuration: confduration ends the conference, counted from the
// first join.
func TestConfDuration(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{ConfDuration: 60})
	h.c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	h.clock.Advance(AnswerDelay("13900000000"))
	h.clock.Advance(60*time.Second - time.Millisecond)
	h.rx.expect(t, "created", "invite")
	h.rx.none(t, h.sim)
	h.clock.Advance(time.Millisecond)
	h.rx.expect(t, "quit", "deleted")
}

func TestRules(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.sim.SetRules([]Rule{{Pattern: "(", Outcome: OutcomeAnswer}}); err == nil {
		t.Error("bad pattern accepted")
	}
	if err := h.sim.SetRules([]Rule{{Pattern: ".", Outcome: "explode"}}); err == nil {
		t.Error("bad outcome accepted")
	}
	if err := h.sim.SetRules([]Rule{
		{Pattern: "^021", Outcome: OutcomeBusy, Delay: 300 * time.Millisecond},
		{Pattern: "^139", Outcome: OutcomeAnswer, Delay: 100 * time.Millisecond, HangupAfter: time.Second},
	}); err != nil {
		t.Fatal(err)
	}
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: 5})
	h.c.InviteJoinConf(ctx, res.ConfID, "02150001234#13900000000", yuntongxun.InviteOptions{})
	h.clock.Advance(100 * time.Millisecond)
	h.rx.expect(t, "created", "invite")
	h.clock.Advance(200 * time.Millisecond)
	if c := h.rx.expect(t, "invite")[0]; c.f["result"] != "1" {
		t.Errorf("busy rule: %s", c.body)
	}
	h.clock.Advance(800 * time.Millisecond)
	h.rx.expect(t, "quit", "deleted")
}

func TestJoinNotifyURL(t *testing.T) {
	for _, tc := range [][3]string{
		{"http://h/yt/s/", "/created", "http://h/yt/s/created"},
		{"http://h/yt/s", "created", "http://h/yt/s/created"},
		{"http://h/yt/s//", "/a/b?x=1", "http://h/yt/s/a/b?x=1"},
		{"http://h/yt/s", "https://other/x", "https://other/x"},
	} {
		if got := JoinNotifyURL(tc[0], tc[1]); got != tc[2] {
			t.Errorf("JoinNotifyURL(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestJoinedURLAndNoNotifyAddress(t *testing.T) {
	h := newHarness(t, nil)
	c, _ := yuntongxun.New(yuntongxun.Config{
		BaseURL: h.srv.URL + "/" + Version, AccountSID: DefaultAccountSID, AuthToken: DefaultAuthToken,
		AppID: DefaultAppID, Callbacks: yuntongxun.CallbackURLs{Joined: "joined"}, Now: h.clock.Now,
	})
	res, _ := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	c.InviteJoinConf(ctx, res.ConfID, "13900000000", yuntongxun.InviteOptions{})
	h.clock.Advance(2 * time.Second)
	if j := h.rx.expect(t, "joined")[0]; j.f["result"] != "0" || j.f["number"] != "13900000000" {
		t.Errorf("joined: %s", j.body)
	}
	h.rx.none(t, h.sim)

	// Without a notification address nothing is sent, and nothing breaks.
	h2 := newHarness(t, func(c *Config) { c.NotifyBaseURL = "" })
	r2, err := h2.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h2.c.InviteJoinConf(ctx, r2.ConfID, "13900000000", yuntongxun.InviteOptions{})
	h2.clock.Advance(time.Hour)
	h2.rx.none(t, h2.sim)
}

// TestPlayAndRecordTimers: a prompt of n loops reports completion to
// playcompleteurl after n×5 s; a timed recording reports to
// timeoutrecordurl when its time runs out.
func TestPlayAndRecordTimers(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	h.rx.expect(t, "created")
	if err := h.c.ConfPlay(ctx, res.ConfID, yuntongxun.PlayOptions{FileName: "a.wav", Loop: 2, PlayCompleteURL: "/played"}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.ConfRecord(ctx, res.ConfID, yuntongxun.RecordOptions{Time: 30, TimeoutRecordURL: "/recorded"}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.ConfRecord(ctx, res.ConfID, yuntongxun.RecordOptions{}); statusCode(t, err) != yuntongxun.CodeConfAPIFailed {
		t.Errorf("record twice: %v", err)
	}
	h.rx.expect(t, "media", "media")
	h.clock.Advance(2*PlaySecondsPerLoop*time.Second - time.Millisecond)
	h.rx.none(t, h.sim)
	h.clock.Advance(time.Millisecond)
	if c := h.rx.expect(t, "played")[0]; c.f["notifytype"] != "1" || c.f["state"] != "11" {
		t.Errorf("play complete: %s", c.body)
	}
	h.clock.Advance(20 * time.Second)
	if c := h.rx.expect(t, "recorded")[0]; c.f["notifytype"] != "12" || c.f["recordduration"] != "30" {
		t.Errorf("record timeout: %s", c.body)
	}
	if err := h.c.ConfStopRecord(ctx, res.ConfID); statusCode(t, err) != yuntongxun.CodeConfAPIFailed {
		t.Errorf("stop a finished recording: %v", err)
	}
	for _, o := range []yuntongxun.PlayOptions{{FileName: "a.wav", Loop: -2}} {
		if err := h.c.ConfPlay(ctx, res.ConfID, o); statusCode(t, err) != yuntongxun.CodeBadParam {
			t.Errorf("play %+v: %v", o, err)
		}
	}
}
