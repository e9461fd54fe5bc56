package yuntongxun

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClassifyBothGenerations(t *testing.T) {
	for code, want := range map[string]Class{
		CodeBadConfID:        ClassConfNotFound,
		CodeQuitFailed:       ClassCallNotFound,
		CodeConfFull:         ClassConfFull,
		CodeBadToken:         ClassAuth,
		CodeAuthFailed:       ClassAuth,
		CodeAppNotFound:      ClassAuth,
		CodeSigMismatch:      ClassAuth,
		CodeTimestampExpired: ClassAuth,
		CodeAppMissing:       ClassAuth,
		"111150":             ClassAuth,
		CodeConcurrency:      ClassBusy,
		"111000":             ClassBusy,
		"111099":             ClassBusy,
		CodeBalance:          ClassBalance,
		"110007":             ClassBalance,
		CodeBadParam:         ClassRequest,
		"110028":             ClassRefused,
		"999999":             ClassRefused,
		"1111x0":             ClassRefused,
		"":                   ClassRefused,
	} {
		if got := Classify(code); got != want {
			t.Errorf("Classify(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestStatusClassesOverride: a code learned on first contact, configured
// with ParseStatusClasses, classifies the platform's answer.
func TestStatusClassesOverride(t *testing.T) {
	cls, err := ParseStatusClasses("111314=conf_not_found, 111315=call_not_found;110128=refused")
	if err != nil || cls["111314"] != ClassConfNotFound || cls["111315"] != ClassCallNotFound || cls["110128"] != ClassRefused {
		t.Fatalf("%v %v", cls, err)
	}
	for _, bad := range []string{"111314", "11131=conf_not_found", "111314=gone", "abcdef=auth"} {
		if _, err := ParseStatusClasses(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(`<Response><statusCode>111314</statusCode><statusMsg>会议不存在</statusMsg></Response>`))
	}))
	defer srv.Close()
	for want, classes := range map[Class]map[string]Class{ClassRefused: nil, ClassConfNotFound: cls} {
		c, err := New(Config{BaseURL: srv.URL + "/2013-12-26", AccountSID: "a", AuthToken: "t", AppID: "p", StatusClasses: classes})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.QueryConfState(context.Background(), "12345678")
		var se *StatusError
		if !errors.As(err, &se) || se.Class != want {
			t.Errorf("classes %v: %v (class %v), want class %v", classes, err, se, want)
		}
	}
}
