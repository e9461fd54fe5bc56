package ytxsim

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/yuntongxun"
)

// raw is one hand-built platform request, so each check can be broken on
// its own. sig and Authorization are computed here, not by the client.
type raw struct {
	pathSID  string // SID in the path
	authSID  string // SID in Authorization
	token    string
	sigTS    string // timestamp in sig
	authTS   string // timestamp in Authorization
	sig      *string
	authz    *string
	endpoint string
	query    string
	body     string
	accept   string
	method   string
}

func newRaw(body string) raw {
	ts := start.In(yuntongxun.Shanghai()).Format("20060102150405")
	return raw{pathSID: DefaultAccountSID, authSID: DefaultAccountSID, token: DefaultAuthToken,
		sigTS: ts, authTS: ts, endpoint: "createconf", body: body, accept: "application/xml", method: http.MethodPost}
}

func (r raw) do(t *testing.T, base string) (int, string, string) {
	t.Helper()
	sig := fmt.Sprintf("%X", md5.Sum([]byte(r.pathSID+r.token+r.sigTS)))
	if r.sig != nil {
		sig = *r.sig
	}
	authz := base64.StdEncoding.EncodeToString([]byte(r.authSID + ":" + r.authTS))
	if r.authz != nil {
		authz = *r.authz
	}
	u := base + "/2013-12-26/Accounts/" + r.pathSID + "/ivr/" + r.endpoint + "?sig=" + sig + r.query
	req, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", r.accept)
	req.Header.Set("Content-Type", "application/xml;charset=utf-8;")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func body(app, cmd string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Request><Appid>` + app + `</Appid>` + cmd + `</Request>`
}

func ptr(s string) *string { return &s }

func TestAuthAndRequestChecks(t *testing.T) {
	h := newHarness(t, nil)
	good := body(DefaultAppID, `<CreateConf maxmember="3"/>`)
	old := start.Add(-24*time.Hour - time.Second).In(yuntongxun.Shanghai()).Format("20060102150405")
	almostOld := start.Add(-24*time.Hour + time.Second).In(yuntongxun.Shanghai()).Format("20060102150405")
	cases := []struct {
		name string
		mod  func(*raw)
		code string
	}{
		{"valid", func(r *raw) {}, "000000"},
		{"timestamp 23:59:59 old", func(r *raw) { r.sigTS, r.authTS = almostOld, almostOld }, "000000"},
		{"timestamp over 24 h old", func(r *raw) { r.sigTS, r.authTS = old, old }, yuntongxun.CodeTimestampExpired},
		{"timestamps differ", func(r *raw) { r.sigTS = almostOld }, yuntongxun.CodeSigMismatch},
		{"wrong token", func(r *raw) { r.token = "x" }, yuntongxun.CodeSigMismatch},
		{"lower-case sig", func(r *raw) {
			r.sig = ptr(strings.ToLower(fmt.Sprintf("%X", md5.Sum([]byte(r.pathSID+r.token+r.sigTS)))))
		}, yuntongxun.CodeSigMismatch},
		{"no sig", func(r *raw) { r.sig = ptr("") }, yuntongxun.CodeSigEmpty},
		{"no Authorization", func(r *raw) { r.authz = ptr("") }, yuntongxun.CodeAuthorizationEmpty},
		{"Authorization not base64", func(r *raw) { r.authz = ptr("!!!") }, yuntongxun.CodeAuthorizationBase64},
		{"Authorization without colon", func(r *raw) { r.authz = ptr(base64.StdEncoding.EncodeToString([]byte("abc"))) }, yuntongxun.CodeAuthorizationFormat},
		{"Authorization of another account", func(r *raw) { r.authSID = "other" }, yuntongxun.CodeAuthorizationOther},
		{"Authorization bad timestamp", func(r *raw) { r.authTS, r.sigTS = "2026-11-28", "2026-11-28" }, yuntongxun.CodeTimestampFormat},
		{"unknown account", func(r *raw) { r.pathSID, r.authSID = "unknown", "unknown" }, yuntongxun.CodeAccountMissing},
		{"unknown app", func(r *raw) { r.body = body("nope", `<CreateConf/>`) }, yuntongxun.CodeAppMissing},
		{"no app", func(r *raw) { r.body = `<Request><CreateConf/></Request>` }, yuntongxun.CodeAppIDMissing},
		{"malformed XML", func(r *raw) { r.body = `<Request><Appid>x</Appid><CreateConf></Request>` }, yuntongxun.CodeBadXML},
		{"not XML", func(r *raw) { r.body = `{"Appid":"x"}` }, yuntongxun.CodeBadXML},
		{"trailing garbage", func(r *raw) { r.body = good + `<x/>` }, yuntongxun.CodeBadXML},
		{"empty body", func(r *raw) { r.body = `` }, yuntongxun.CodeBadXML},
		{"wrong root", func(r *raw) { r.body = `<Req><Appid>` + DefaultAppID + `</Appid><CreateConf/></Req>` }, yuntongxun.CodeBadRequest},
		{"no command", func(r *raw) { r.body = body(DefaultAppID, ``) }, yuntongxun.CodeBadRequest},
		{"unknown command", func(r *raw) { r.body = body(DefaultAppID, `<MakeCoffee/>`) }, yuntongxun.CodeBadRequest},
		{"two commands", func(r *raw) { r.body = body(DefaultAppID, `<CreateConf/><CreateConf/>`) }, yuntongxun.CodeBadRequest},
		{"maxmember from query", func(r *raw) { r.body = body(DefaultAppID, `<CreateConf/>`); r.query = "&maxmember=301" }, yuntongxun.CodeBadParam},
		{"maxmember not a number", func(r *raw) { r.body = body(DefaultAppID, `<CreateConf maxmember="ten"/>`) }, yuntongxun.CodeBadParam},
		{"child-element variant", func(r *raw) {
			r.body = body(DefaultAppID, `<CreateConf><action>/created</action><maxmember>10</maxmember></CreateConf>`)
		}, "000000"},
		{"unknown conference", func(r *raw) {
			r.endpoint, r.body = "conf", body(DefaultAppID, `<QueryConfState confid="12345678"/>`)
		}, yuntongxun.CodeBadConfID},
		{"no confid", func(r *raw) { r.endpoint, r.body = "conf", body(DefaultAppID, `<QueryConfState/>`) }, yuntongxun.CodeBadParam},
		{"confid query and attribute differ", func(r *raw) {
			r.endpoint, r.query, r.body = "conf", "&confid=1", body(DefaultAppID, `<QueryConfState confid="2"/>`)
		}, yuntongxun.CodeBadParam},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRaw(good)
			tc.mod(&r)
			status, ct, b := r.do(t, h.srv.URL)
			if status != 200 || !strings.HasPrefix(ct, "application/xml") {
				t.Fatalf("HTTP %d %s: errors are in-band", status, ct)
			}
			if !strings.Contains(b, "<statusCode>"+tc.code+"</statusCode>") {
				t.Errorf("answer %s, want statusCode %s", b, tc.code)
			}
			if tc.code != "000000" && !strings.Contains(b, "<statusMsg>") {
				t.Errorf("refusal without statusMsg: %s", b)
			}
		})
	}
}

func TestHTTPLevel(t *testing.T) {
	h := newHarness(t, nil)
	r := newRaw(body(DefaultAppID, `<CreateConf/>`))
	r.method = http.MethodGet
	if st, _, _ := r.do(t, h.srv.URL); st != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", st)
	}
	r = newRaw(body(DefaultAppID, `<CreateConf/>`))
	r.endpoint = "dial"
	if st, _, _ := r.do(t, h.srv.URL); st != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", st)
	}
	resp, err := http.Get(h.srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestJSONAnswers(t *testing.T) {
	h := newHarness(t, nil)
	r := newRaw(body(DefaultAppID, `<CreateConf/>`))
	r.accept = "application/json"
	_, ct, b := r.do(t, h.srv.URL)
	var m map[string]string
	if err := json.Unmarshal([]byte(b), &m); err != nil || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: %v", ct, b, err)
	}
	if m["statusCode"] != "000000" || len(m["confid"]) != 8 {
		t.Errorf("JSON answer %v", m)
	}
	r.body = body(DefaultAppID, `<InviteJoinConf confid="`+m["confid"]+`" number="13900000000"/>`)
	r.endpoint = "conf"
	_, _, b = r.do(t, h.srv.URL)
	var inv map[string]string
	json.Unmarshal([]byte(b), &inv)
	if len(inv["callSid"]) != 32 || inv["orderId"] == "" {
		t.Errorf("invite JSON %s", b)
	}
	// The InviteJoinConf body one client posts to /ivr/createconf is
	// dispatched on the element.
	r.endpoint = "createconf"
	_, _, b = r.do(t, h.srv.URL)
	if !strings.Contains(b, `"callSid"`) {
		t.Errorf("element dispatch: %s", b)
	}
	r.body = body("nope", `<CreateConf/>`)
	_, _, b = r.do(t, h.srv.URL)
	if err := json.Unmarshal([]byte(b), &m); err != nil || m["statusCode"] != yuntongxun.CodeAppMissing || m["statusMsg"] == "" {
		t.Errorf("JSON refusal %s", b)
	}
}

// TestClientSurfacesEveryRefusal: the client turns each refusal into a
// StatusError with the code; with a wrong clock, the 24 h check fires.
func TestClientSurfacesEveryRefusal(t *testing.T) {
	h := newHarness(t, nil)
	mk := func(mod func(*yuntongxun.Config)) *yuntongxun.Client {
		cfg := yuntongxun.Config{BaseURL: h.srv.URL + "/" + Version, AccountSID: DefaultAccountSID,
			AuthToken: DefaultAuthToken, AppID: DefaultAppID, Now: h.clock.Now}
		mod(&cfg)
		c, err := yuntongxun.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := map[string]struct {
		c    *yuntongxun.Client
		code string
	}{
		"token":   {mk(func(c *yuntongxun.Config) { c.AuthToken = "bad" }), yuntongxun.CodeSigMismatch},
		"account": {mk(func(c *yuntongxun.Config) { c.AccountSID = "bad" }), yuntongxun.CodeAccountMissing},
		"app":     {mk(func(c *yuntongxun.Config) { c.AppID = "bad" }), yuntongxun.CodeAppMissing},
		"clock": {mk(func(c *yuntongxun.Config) {
			c.Now = func() time.Time { return start.Add(-25 * time.Hour) }
		}), yuntongxun.CodeTimestampExpired},
		"zone": {mk(func(c *yuntongxun.Config) {
			// A client stamping UTC instead of Shanghai is 8 h off: still
			// inside 24 h, so accepted, as the platform would.
			c.Location = time.UTC
		}), "000000"},
	}
	for name, tc := range cases {
		_, err := tc.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
		if tc.code == "000000" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if got := statusCode(t, err); got != tc.code {
			t.Errorf("%s: statusCode %s, want %s", name, got, tc.code)
		}
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, nil)
	h.sim.SetLatency(60 * time.Millisecond)
	t0 := time.Now()
	if _, err := h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < 60*time.Millisecond {
		t.Errorf("answered in %v, want ≥ 60 ms", el)
	}
	h.sim.SetLatencyTail(0, 80*time.Millisecond, 1)
	t0 = time.Now()
	h.c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
	if el := time.Since(t0); el < 80*time.Millisecond {
		t.Errorf("tail: answered in %v", el)
	}
	h.sim.SetLatency(0) // clears the tail too
	if d := h.sim.nextLatency(); d != 0 {
		t.Errorf("latency after SetLatency(0): %v", d)
	}
}

// TestClientTransportErrors: a wrong base URL (HTTP 404) and a simulator
// that is down are TransportErrors, never StatusErrors.
func TestClientTransportErrors(t *testing.T) {
	h := newHarness(t, nil)
	for name, base := range map[string]string{
		"no version": h.srv.URL,
		"down":       "http://127.0.0.1:1/" + Version,
	} {
		c, _ := yuntongxun.New(yuntongxun.Config{BaseURL: base, AccountSID: DefaultAccountSID,
			AuthToken: DefaultAuthToken, AppID: DefaultAppID, Now: h.clock.Now})
		_, err := c.CreateConf(ctx, yuntongxun.CreateConfOptions{})
		var te *yuntongxun.TransportError
		if !errors.As(err, &te) {
			t.Errorf("%s: %v", name, err)
		} else if name == "no version" && te.HTTPStatus != http.StatusNotFound {
			t.Errorf("%s: HTTP %d", name, te.HTTPStatus)
		}
	}
}
