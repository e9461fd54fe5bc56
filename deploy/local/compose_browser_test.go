//go:build docker

package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"confapplet/deploy/dockerstack"
	"confapplet/pkg/token"

	"github.com/chromedp/chromedp"
)

// TestBrowserCompose drives the page in headless Chromium against the
// containers of docker-compose.yml, through its load balancer (HAProxy):
// create a conference, invite, see members join and a busy number fail,
// restart each edge in turn under the open page (it reconnects through the
// load balancer and resumes), hang up, dismiss, and every event exactly once
// and in order. The simulator keeps its default rules (every number answers
// within 2 s but ytxsim.NumberBusy). Run it with `make test-docker`.
func TestBrowserCompose(t *testing.T) {
	t0 := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(t0).Seconds(), what) }
	b := newBrowser(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "compose-browser-test-secret"
	s := dockerstack.Up(t, root, "browser", "EDGE_AUTH_SECRET="+secret)
	step("compose stack up")
	const wait = 15 * time.Second
	connected := `document.querySelector('[data-testid=conn-status]').dataset.state === "open"`

	b.do("load the page through the load balancer", wait, chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/?client=compose-page&token=%s",
		s.LBPort, token.HS256(secret, "compose-page", time.Hour))))
	b.waitFor("connected", connected, wait)
	b.do("create", wait, click(`[data-testid=create-conf]`))
	b.waitFor("the conference id", `/^[0-9]{4,8}$/.test(document.querySelector('[data-testid=conf-id]').textContent)`, wait)
	confID := b.text("conf-id")
	step("conference " + confID + " created")

	b.do("invite", wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=invite-input]`), numAlice+" "+numBob+" "+numBusy),
		click(`[data-testid=invite-button]`))
	for _, n := range []string{numAlice, numBob} {
		b.waitFor(n+" joined", exists(member(n, "joined")), wait)
	}
	b.waitFor(numBusy+" failed", exists(member(numBusy, "failed")), wait)
	if got := b.text("member-count"); got != "2 online" {
		t.Errorf("member count %q", got)
	}
	t.Logf("screenshot: %s", b.screenshot("compose-page.png"))
	step("members joined / failed")

	// A rolling restart of the edges under the open page: whichever edge
	// holds its WebSocket closes it with 1001, and the page reconnects
	// through the load balancer to the other one and resumes.
	var ok bool
	b.eval(`(() => {
		const el = document.querySelector('[data-testid=conn-status]');
		window.drops = 0;
		new MutationObserver(() => { if (el.dataset.state !== "open") window.drops++; }).observe(el, {attributes: true});
		return true;
	})()`, &ok)
	for _, e := range s.Replicas("svc-edge") {
		s.Must("restart", "--time", "30", e)
		s.WaitHealthy(e, time.Minute)
		s.EdgesUp(2, 30*time.Second)
		b.waitFor("connected after restarting "+e, connected, 30*time.Second)
		step(e + " restarted, page connected")
	}

	var drops int
	b.eval(`window.drops`, &drops)
	if drops == 0 {
		t.Error("the page never lost its connection while every edge restarted")
	}
	b.do("hang up", wait, click(member(numAlice, "joined")+` [data-testid=member-hangup]`))
	b.waitFor("Alice left", exists(member(numAlice, "left")), wait)
	b.do("dismiss", wait, click(`[data-testid=dismiss-conf]`), click(`[data-testid=dismiss-conf]`))
	b.waitFor("the end", `document.querySelector('[data-testid=conf-state]').dataset.state === "ended"`, wait)
	b.waitFor("Bob left", exists(member(numBob, "left")), wait)
	step("conference ended")

	var rows int
	b.eval(`document.querySelectorAll('[data-testid=member]').length`, &rows)
	if rows != 3 {
		t.Errorf("%d member rows, want 3 (no duplicates)", rows)
	}
	var seqs []int
	b.eval(fmt.Sprintf(`[...document.querySelectorAll('[data-testid=event-log] li[data-confid=%q][data-seq]')].map(li => +li.dataset.seq)`, confID), &seqs)
	for i, q := range seqs {
		if q != i+1 {
			t.Fatalf("event seqs %v: want 1..%d, each once", seqs, len(seqs))
		}
	}
	if len(seqs) < 6 {
		t.Errorf("only %d events: %v", len(seqs), seqs)
	}
	b.screenshot("compose-page-ended.png")
	if issues := b.pageIssues(); len(issues) > 0 {
		t.Errorf("page errors: %v", issues)
	}
}
