package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/token"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Numbers of the browser test (simulator rules: fastRules).
const (
	numAlice = "13912345678" // answers; hung up from the page
	numBob   = "13712345678" // answers; hangs up by himself while the page is disconnected
	numCarol = "13612345678" // answers; still in when the conference is dismissed
	numBusy  = "13800000001" // ytxsim.NumberBusy
)

// chromiumPath finds Debian's Chromium: $CONFAPPLET_CHROMIUM, else chromium
// on PATH. Without it the test is skipped, except in CI (CI=true), where a
// missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CONFAPPLET_CHROMIUM")
	if p == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if lp, err := exec.LookPath(name); err == nil {
				p = lp
				break
			}
		}
	}
	if p != "" {
		if _, err := os.Stat(p); err != nil {
			p = ""
		}
	}
	return needTool(t, p, "Chromium not found (install Debian's chromium, or set CONFAPPLET_CHROMIUM to its path)", "the browser test")
}

// needTool returns path, or when it is empty skips the test (what the tool
// is for) with why, except in CI (CI=true), where every tool must be there.
func needTool(t *testing.T, path, why, forWhat string) string {
	t.Helper()
	if path != "" {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %s must run in CI", why, forWhat)
	}
	t.Skipf("%s: skipping %s", why, forWhat)
	return ""
}

// artifactsDir is the git-ignored folder for screenshots: $CONFAPPLET_ARTIFACTS
// or artifacts/ at the repository root.
func artifactsDir(t *testing.T) string {
	d := os.Getenv("CONFAPPLET_ARTIFACTS")
	if d == "" {
		d = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	issues []string // uncaught exceptions and console errors of the page
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 860),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		cancelB()
		cancelA()
	})
	// Start the browser now, so a broken install fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *browser) listen(ev any) {
	var issue string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		issue = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			issue += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			issue = "console.error: " + strings.Join(parts, " ")
		}
	}
	if issue != "" {
		b.mu.Lock()
		b.issues = append(b.issues, issue)
		b.mu.Unlock()
	}
}

// pageIssues returns the exceptions and console errors seen so far,
// without the ones a dropped WebSocket logs by design.
func (b *browser) pageIssues() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, s := range b.issues {
		if strings.Contains(s, "WebSocket") {
			continue
		}
		out = append(out, s)
	}
	return out
}

// do runs actions with a deadline; on failure it saves a screenshot and
// reports the page's state.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitFor polls a JavaScript predicate until it is truthy.
func (b *browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.fail("wait for "+what, err)
	}
}

// eval evaluates a JSON-returning expression into v.
func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string]("Promise.resolve("+expr+").then(v => JSON.stringify(v))", chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		b.fail("decode "+raw, err)
	}
}

func (b *browser) text(testid string) string {
	b.t.Helper()
	var s string
	b.eval(fmt.Sprintf(`(document.querySelector('[data-testid=%q]')||{}).textContent||""`, testid), &s)
	return strings.TrimSpace(s)
}

func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(b.t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	state := "?"
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if s, e := chromedp.Run(ctx, chromedp.Evaluate[string](`[
		"conn: " + document.querySelector('[data-testid=conn-status]').dataset.state,
		"notice: " + document.querySelector('[data-testid=notice]').textContent,
		"error: " + document.querySelector('[data-testid=error]').textContent,
		"conf: " + document.querySelector('[data-testid=conf-id]').textContent + " " + document.querySelector('[data-testid=conf-state]').dataset.state,
		"members: " + [...document.querySelectorAll('[data-testid=member]')].map(li => li.dataset.number + "=" + li.dataset.state).join(", "),
		"events:\n  " + [...document.querySelectorAll('[data-testid=event-log] li')].map(li => li.textContent).join("\n  "),
	].join("\n")`)); e == nil {
		state = s
	}
	if png, e := chromedp.Run(ctx, chromedp.FullScreenshot(100)); e == nil {
		os.WriteFile(filepath.Join(artifactsDir(b.t), "failure.png"), png, 0o644)
	}
	b.t.Fatalf("%s: %v\npage state:\n%s\npage issues: %v", what, err, state, b.pageIssues())
}

// member is the CSS selector of the member row of number, in state.
func member(number, state string) string {
	s := fmt.Sprintf(`[data-testid="member"][data-number=%q]`, number)
	if state != "" {
		s += fmt.Sprintf(`[data-state=%q]`, state)
	}
	return s
}

func exists(sel string) string {
	return fmt.Sprintf(`document.querySelector(%q) !== null`, sel)
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

// TestBrowser drives the page in headless Chromium against the whole stack:
// create, invite (answering and busy numbers), the member list reaching
// joined / failed, a reload, an error message, mute and recording, a reconnect that catches up on an event
// that happened while the socket was down, hang-up, dismiss, the phone
// layout and the language toggle.
func TestBrowser(t *testing.T) {
	t0 := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(t0).Seconds(), what) }
	b := newBrowser(t)
	step("Chromium started")
	s := startLocal(t, 20*time.Second)
	step("local stack ready")
	s.sim(http.MethodPut, "/_sim/rules", fastRules)
	url := "http://" + s.edgeAddr + "/"
	const wait = 10 * time.Second

	b.do("load the page", wait, chromedp.Navigate(url))
	b.waitFor("connected", `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`, wait)
	if got := b.text("conn-text"); got != "Connected" {
		t.Errorf("status text %q, want Connected", got)
	}

	// The protocol module's pure helpers, in the browser that runs them.
	var helpers struct {
		Split []string
		URL   string
		Delay []int
	}
	b.eval(`import("/client-js/index.js").then(m => ({
		Split: m.splitNumbers(" 13912345678#13800000001，13712345678  13612345678,"),
		URL: m.buildURL("ws://h:1", "web-1", new Map([["12345678", 7], ["87654321", 0], ["23456789", 3]])),
		Delay: [0, 1, 2, 3, 10, 30].map(n => m.backoff(n, 500, 15000, () => 1)),
	}))`, &helpers)
	if strings.Join(helpers.Split, " ") != "13912345678 13800000001 13712345678 13612345678" {
		t.Errorf("splitNumbers = %q", helpers.Split)
	}
	if helpers.URL != "ws://h:1/client/web-1?resume=12345678:7,23456789:3" {
		t.Errorf("buildURL = %q", helpers.URL)
	}
	if fmt.Sprint(helpers.Delay) != "[500 1000 2000 4000 15000 15000]" {
		t.Errorf("backoff upper bounds = %v", helpers.Delay)
	}

	// Create a conference.
	b.do("create", wait, click(`[data-testid=create-conf]`))
	b.waitFor("the conference id", `/^[0-9]{4,8}$/.test(document.querySelector('[data-testid=conf-id]').textContent)`, wait)
	confID := b.text("conf-id")
	step("conference " + confID + " created")

	// Invite four numbers in one go, separated three ways.
	b.do("invite", wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=invite-input]`), numAlice+"#"+numBusy+", "+numBob+" "+numCarol),
		click(`[data-testid=invite-button]`))
	for _, n := range []string{numAlice, numBob, numCarol} {
		b.waitFor(n+" joined", exists(member(n, "joined")), wait)
	}
	b.waitFor(numBusy+" failed", exists(member(numBusy, "failed")), wait)
	step("members joined / failed")
	var reason string
	b.eval(fmt.Sprintf(`document.querySelector('%s [data-testid=member-reason]').textContent`, member(numBusy, "")), &reason)
	if reason != "busy or refused" {
		t.Errorf("busy reason %q", reason)
	}
	var rows int
	var ok bool
	b.eval(`document.querySelectorAll('[data-testid=member]').length`, &rows)
	if rows != 4 {
		t.Errorf("%d member rows, want 4 (no duplicates)", rows)
	}
	var joinTime string
	b.eval(fmt.Sprintf(`document.querySelector('%s [data-testid=member-time]').textContent`, member(numAlice, "")), &joinTime)
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d$`).MatchString(joinTime) {
		t.Errorf("join time %q", joinTime)
	}
	if got := b.text("member-count"); got != "3 online" {
		t.Errorf("member count %q", got)
	}
	shot := b.screenshot("page.png")
	t.Logf("screenshot with members joined: %s", shot)

	// The same on a phone-sized screen, in Chinese: nothing wider than the screen.
	b.do("phone viewport", wait, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), click(`[data-testid=lang-toggle]`))
	if got := b.text("title"); got != "管理电话会议" {
		t.Errorf("Chinese title %q", got)
	}
	if got := b.text("notice"); got != "已呼叫 4 个号码" {
		t.Errorf("Chinese notice %q", got)
	}
	var overflow bool
	b.eval(`document.documentElement.scrollWidth > 390`, &overflow)
	if overflow {
		t.Error("the page with members is wider than a 390 px phone screen")
	}
	b.screenshot("page-phone-zh.png")
	b.do("desktop viewport", wait, click(`[data-testid=lang-toggle]`), chromedp.ResetViewport())

	// OnConfEventsLost makes the page rebuild the conference with GetConf
	// (the notification is injected: the stream keeps events for days).
	b.eval(fmt.Sprintf(`window.confapplet.client.dispatchEvent(new CustomEvent("notify",
		{detail: {method: "OnConfEventsLost", params: {confid: %q, from: 1, to: 2}}})) && true`, confID), &ok)
	b.waitFor("the rebuild after lost events", `document.querySelector('[data-testid=notice]').textContent.includes("reloaded from the server")`, wait)
	b.eval(`document.querySelectorAll('[data-testid=member]').length`, &rows)
	if rows != 4 {
		t.Errorf("%d member rows after GetConf, want 4", rows)
	}

	// A reload is the same client (sessionStorage): the edge replays the
	// owned conference from its first event and the page rebuilds the list,
	// one row per call.
	b.do("reload", wait, chromedp.Reload())
	b.waitFor("connected after reload", `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`, wait)
	for _, n := range []string{numAlice, numBob, numCarol} {
		b.waitFor(n+" joined after reload", exists(member(n, "joined")), wait)
	}
	b.waitFor(numBusy+" failed after reload", exists(member(numBusy, "failed")), wait)
	if got := b.text("conf-id"); got != confID {
		t.Errorf("conference after reload %q, want %q", got, confID)
	}
	b.eval(`document.querySelectorAll('[data-testid=member]').length`, &rows)
	if rows != 4 {
		t.Errorf("%d member rows after reload, want 4", rows)
	}

	// A refused number gets the error table's message, naming the number.
	b.do("invite a refused number", wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=invite-input]`), "12345"),
		click(`[data-testid=invite-button]`))
	b.waitFor("the refusal", `document.querySelector('[data-testid=error]').textContent.includes("This number may not be called")`, wait)

	// Mute and unmute a member.
	b.do("mute", wait, click(member(numCarol, "joined")+` [data-testid=member-mute]`))
	b.waitFor("muted", exists(member(numCarol, "joined")+`[data-muted=true]`), wait)
	b.do("unmute", wait, click(member(numCarol, "joined")+` [data-testid=member-mute]`))
	b.waitFor("unmuted", exists(member(numCarol, "joined")+`[data-muted=false]`), wait)

	// Mute all, then unmute one by one.
	b.do("mute all", wait, click(`[data-testid=mute-all]`))
	for _, n := range []string{numAlice, numBob, numCarol} {
		b.waitFor(n+" muted by mute-all", exists(member(n, "joined")+`[data-muted=true]`), wait)
	}
	b.waitFor("mute-all disabled once all are muted", `document.querySelector('[data-testid=mute-all]').disabled`, wait)
	for _, n := range []string{numAlice, numBob, numCarol} {
		b.do("unmute "+n, wait, click(member(n, "joined")+` [data-testid=member-mute]`))
		b.waitFor(n+" unmuted", exists(member(n, "joined")+`[data-muted=false]`), wait)
	}

	// Start and stop recording.
	b.do("start recording", wait, click(`[data-testid=record-toggle]`))
	b.waitFor("recording", `!document.querySelector('[data-testid=conf-recording]').hidden`, wait)
	b.do("stop recording", wait, click(`[data-testid=record-toggle]`))
	b.waitFor("not recording", `document.querySelector('[data-testid=conf-recording]').hidden`, wait)

	// Reconnect: stop the edge (it closes every socket with 1001), let Bob
	// hang up while the page is disconnected, start the edge again. The page
	// must reconnect by itself, resume, and show Bob's quit exactly once.
	var bobCall string
	b.eval(fmt.Sprintf(`document.querySelector('%s').dataset.callid`, member(numBob, "")), &bobCall)
	s.toggleEdge(false)
	step("edge stopped")
	b.waitFor("disconnected", `document.querySelector('[data-testid=conn-status]').dataset.state !== "open"`, wait)
	s.sim(http.MethodPost, "/_sim/hangup?callid="+bobCall, "")
	time.Sleep(500 * time.Millisecond) // let the quit reach the event stream while the page is away
	if got := b.text("conn-text"); !strings.Contains(got, "Disconnected") {
		t.Errorf("status while away %q", got)
	}
	s.toggleEdge(true)
	step("edge started again")
	b.waitFor("reconnected", `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`, 20*time.Second)
	step("page reconnected")
	b.waitFor("Bob left (caught up)", exists(member(numBob, "left")), wait)
	b.waitFor("the replayed quit in the event log",
		fmt.Sprintf(`[...document.querySelectorAll('[data-testid=event-log] li[data-method=OnConfQuit]')].some(li => li.textContent.includes(%q))`, numBob), wait)
	if got := b.text("notice"); !strings.Contains(got, "Reconnected") {
		t.Errorf("notice after reconnect %q", got)
	}

	// Hang Alice up from the page.
	b.eval(fmt.Sprintf(`(window.carolRow = document.querySelector('%s')) !== null`, member(numCarol, "joined")), &ok)
	b.do("hang up", wait, click(member(numAlice, "joined")+` [data-testid=member-hangup]`))
	b.waitFor("Alice left", exists(member(numAlice, "left")), wait)
	b.waitFor("the announcement", fmt.Sprintf(`document.querySelector('[data-testid=announcer]').textContent === %q`, numAlice+": Left"), wait)
	// Rows update in place: Alice's change left Carol's row (and a focus in it) alone.
	b.eval(fmt.Sprintf(`document.querySelector('%s') === window.carolRow`, member(numCarol, "joined")), &ok)
	if !ok {
		t.Error("Carol's row was re-created by another member's event")
	}

	// Dismiss (two clicks: the button asks for confirmation in place).
	b.do("dismiss", wait, click(`[data-testid=dismiss-conf]`), click(`[data-testid=dismiss-conf]`))
	b.waitFor("the end", `document.querySelector('[data-testid=conf-state]').dataset.state === "ended"`, wait)
	b.waitFor("Carol left", exists(member(numCarol, "left")), wait)
	b.waitFor("the new-conference button", `!document.querySelector('[data-testid=new-conf]').hidden`, wait)
	step("conference ended")

	// Every event exactly once, in order, without gaps: seq 1..n.
	var seqs []int
	b.eval(fmt.Sprintf(`[...document.querySelectorAll('[data-testid=event-log] li[data-confid=%q][data-seq]')].map(li => +li.dataset.seq)`, confID), &seqs)
	for i, q := range seqs {
		if q != i+1 {
			t.Fatalf("event seqs %v: want 1..%d, each once", seqs, len(seqs))
		}
	}
	if len(seqs) < 8 {
		t.Errorf("only %d events: %v", len(seqs), seqs)
	}

	// Chinese labels.
	b.do("switch to Chinese", wait, click(`[data-testid=lang-toggle]`))
	if got := b.text("conf-state"); got != "已结束" {
		t.Errorf("Chinese state %q", got)
	}
	b.do("switch back", wait, click(`[data-testid=lang-toggle]`))

	// A phone-sized screen: nothing wider than the viewport.
	b.do("phone viewport", wait, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.eval(`document.documentElement.scrollWidth > 390`, &overflow)
	if overflow {
		t.Error("the page is wider than a 390 px phone screen")
	}
	b.screenshot("page-phone.png")

	if issues := b.pageIssues(); len(issues) > 0 {
		t.Errorf("page errors: %v", issues)
	}
}

// TestBrowserConnectionToken: with EDGE_AUTH_SECRET set the edge admits only
// signed connection tokens; the page takes its client id and token from its
// URL (?client=…&token=…), connects with a good one, and keeps retrying
// (never "open") with a bad one.
func TestBrowserConnectionToken(t *testing.T) {
	const secret = "browser-test-secret"
	b := newBrowser(t)
	s := startLocal(t, 20*time.Second, "EDGE_AUTH_SECRET="+secret)
	const wait = 10 * time.Second

	good := token.HS256(secret, "tok-client", time.Hour)
	b.do("load with a good token", wait, chromedp.Navigate("http://"+s.edgeAddr+"/?client=tok-client&token="+good))
	b.waitFor("connected", `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`, wait)
	b.do("create", wait, click(`[data-testid=create-conf]`))
	b.waitFor("the conference id", `/^[0-9]{4,8}$/.test(document.querySelector('[data-testid=conf-id]').textContent)`, wait)

	bad := token.HS256("another-secret", "tok-other", time.Hour)
	b.do("load with a bad token", wait, chromedp.Navigate("http://"+s.edgeAddr+"/?client=tok-other&token="+bad))
	b.waitFor("refused", `document.querySelector('[data-testid=conn-status]').dataset.state === "reconnecting"`, wait)
	time.Sleep(time.Second)
	if got := b.text("conn-text"); !strings.Contains(got, "Disconnected") {
		t.Errorf("status with a bad token %q", got)
	}
	var state string
	b.eval(`document.querySelector('[data-testid=conn-status]').dataset.state`, &state)
	if state == "open" {
		t.Error("connected with a token signed by another secret")
	}
}

// TestBrowserInviteWithoutResult: with the simulator sending invitation
// results without "result", the page never shows a member joined on that
// alone: the answered number is joined (by its join notification), the busy
// one stays "Awaiting outcome", never failed or joined, and is not counted.
func TestBrowserInviteWithoutResult(t *testing.T) {
	b := newBrowser(t)
	s := startLocal(t, 20*time.Second, "SIM_INVITE_WITHOUT_RESULT=true")
	s.sim(http.MethodPut, "/_sim/rules", fastRules)
	const wait = 10 * time.Second
	b.do("load the page", wait, chromedp.Navigate("http://"+s.edgeAddr+"/"))
	b.waitFor("connected", `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`, wait)
	b.do("create", wait, click(`[data-testid=create-conf]`))
	b.waitFor("the conference id", `/^[0-9]{4,8}$/.test(document.querySelector('[data-testid=conf-id]').textContent)`, wait)
	b.do("invite", wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=invite-input]`), numAlice+"#"+numBusy),
		click(`[data-testid=invite-button]`))
	b.waitFor(numAlice+" joined", exists(member(numAlice, "joined")), wait)
	b.waitFor(numBusy+" awaiting its outcome", exists(member(numBusy, "ringing")), wait)
	// The busy call's only callback has arrived: give the page time to
	// get anything else wrong, then check it did not.
	time.Sleep(500 * time.Millisecond)
	var state, label string
	b.eval(fmt.Sprintf(`document.querySelector('%s').dataset.state`, member(numBusy, "")), &state)
	b.eval(fmt.Sprintf(`document.querySelector('%s [data-testid=member-state]').textContent`, member(numBusy, "")), &label)
	if state != "ringing" || label != "Awaiting outcome" {
		t.Errorf("busy member: state %q label %q, want ringing / Awaiting outcome", state, label)
	}
}
