package callback

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"confapplet/pkg/contract"
)

func TestCallbackPath(t *testing.T) {
	for path, want := range map[string][2]string{
		"/yt/s/joined":                            {"s", "joined"},
		"/yt/s//joined":                           {"s", "joined"},
		"/yt/s///joined/":                         {"s", "joined"},
		"/yt//s/joined":                           {"s", "joined"},
		"/yt/s/extra/prefix/joined":               {"s", "joined"},
		"/yt/s/https:/cb.example.com/yt/s/joined": {"s", "joined"},
		"/yt/s/created":                           {"s", "created"},
		"/yt/s/joined/x":                          {"s", ""},
		"/yt/s":                                   {"s", ""},
		"/yt/joined":                              {"joined", ""},
		"/yt/":                                    {"", ""},
		"/other/s/joined":                         {"", ""},
		"/yt/s/Joined":                            {"s", ""},
		"/yt/s/" + strings.Repeat("a/", 3) + "deleted": {"s", "deleted"},
	} {
		secret, kind, ok := callbackPath(path)
		if ok != (want[1] != "") || secret != want[0] || (ok && kind != want[1]) {
			t.Errorf("%s → %q %q %v, want %q %q", path, secret, kind, ok, want[0], want[1])
		}
	}
}

// TestCallbackAddressesWithoutRedirect: the paths every joining rule of the
// notification address and a relative URL can produce are answered 2xx
// (never a redirect) and published; a wrong secret is still 404.
func TestCallbackAddressesWithoutRedirect(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := client.Post(in.http.URL+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	paths := []string{
		"/yt/" + testSecret + "//joined",
		"/yt/" + testSecret + "/joined",
		"/yt/" + testSecret + "/extra/prefix/joined",
		"/yt/" + testSecret + "/https://cb.example.com/yt/" + testSecret + "/joined",
	}
	for i, p := range paths {
		call := strings.Repeat(string(rune('a'+i)), 32)
		body := xmlBody("request", "confid", "10020030", "callSid", call, "number", "13800138000", "result", "0", "jointime", "20261128103000")
		if code, got := post(p, body); code != http.StatusOK || got != EmptyResponse {
			t.Errorf("%s: %d %q", p, code, got)
		}
	}
	evs := e.events("10020030")
	if len(evs) != len(paths) {
		t.Fatalf("%d events for %d callbacks", len(evs), len(paths))
	}
	for _, ev := range evs {
		if ev.Kind != contract.KindJoined || ev.Result == nil || *ev.Result != 0 {
			t.Errorf("event %+v", ev)
		}
	}
	if code, _ := post("/yt/wrong//joined", xmlBody("request", "confid", "10020030")); code != http.StatusNotFound {
		t.Errorf("wrong secret: %d", code)
	}
}

// TestProbe: GET on the notification address itself answers ProbeAnswer
// with the right secret only, and stores nothing.
func TestProbe(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	for path, want := range map[string]int{
		"/yt/" + testSecret:       http.StatusOK,
		"/yt/" + testSecret + "/": http.StatusOK,
		"/yt/wrong/":              http.StatusNotFound,
	} {
		resp, err := in.http.Client().Get(in.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusOK && string(b) != ProbeAnswer) {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
		}
	}
	if raw, _ := e.rawCounts(); raw != 0 {
		t.Errorf("the probe stored %d raw callbacks", raw)
	}
}

func TestResolveKind(t *testing.T) {
	for _, c := range [][3]string{
		{"joined", "/whatever", "joined"},
		{otherKind, "/x/created", "created"},
		{otherKind, "/created/", "created"},
		{otherKind, "/alarmclock", otherKind},
		{otherKind, "", otherKind},
	} {
		if got := resolveKind(c[0], c[1]); got != c[2] {
			t.Errorf("resolveKind(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}
