package conference

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"confapplet/pkg/contract"
	"confapplet/pkg/yuntongxun"
)

// TestPlatformCodesBothGenerations: the contract error of each class of
// statusCode, from either generation, and the not-found cases svc-conference
// acts on (the record cleanup, call_not_found).
func TestPlatformCodesBothGenerations(t *testing.T) {
	for code, want := range map[string]contract.Code{
		"110128": contract.CodePlatform, // handled as conf_not_found by its callers (below)
		"110092": contract.CodeLimit,
		"111111": contract.CodePlatformDown,
		"111042": contract.CodePlatformDown,
		"111109": contract.CodePlatform,
		"110001": contract.CodePlatform,
		"111142": contract.CodePlatform,
		"123456": contract.CodePlatform,
	} {
		e := platformError(&yuntongxun.StatusError{Command: "X", StatusCode: code})
		if e.Code != want || !strings.Contains(string(e.Data), code) {
			t.Errorf("%s → %s %s, want %s with the code in data", code, e.Code, e.Data, want)
		}
	}
	if !isPlatformNotFound(&yuntongxun.StatusError{StatusCode: yuntongxun.CodeBadConfID}) ||
		isPlatformNotFound(&yuntongxun.StatusError{StatusCode: "111109"}) {
		t.Error("isPlatformNotFound")
	}
	if !isPlatformCallNotFound(&yuntongxun.StatusError{StatusCode: yuntongxun.CodeQuitFailed}) ||
		isPlatformCallNotFound(&yuntongxun.StatusError{StatusCode: yuntongxun.CodeBadConfID}) {
		t.Error("isPlatformCallNotFound")
	}
}

// TestConfiguredStatusClasses: a 2013-12-26 "no such conference" code
// learned on first contact (YTX_STATUS_CLASSES) is recognised like 110128:
// QueryConfState of an unknown conference is conf_not_found.
func TestConfiguredStatusClasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(`<Response><statusCode>111314</statusCode></Response>`))
	}))
	defer srv.Close()
	for classes, want := range map[string]bool{"": false, "111314=conf_not_found": true} {
		cfg := DefaultConfig()
		cfg.YTXBaseURL = srv.URL + "/2013-12-26"
		cfg.YTXStatusClasses = classes
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		p, err := NewYTX(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.QueryConfState(context.Background(), "12345678")
		if got := isPlatformNotFound(err); got != want {
			t.Errorf("YTX_STATUS_CLASSES=%q: not found %v, want %v (%v)", classes, got, want, err)
		}
	}
	bad := DefaultConfig()
	bad.YTXStatusClasses = "111314=gone"
	if err := bad.Validate(); err == nil {
		t.Error("an unknown class accepted")
	}
}
