package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"confapplet/pkg/svc"
)

// The erasing itself is tested on the real stack: deploy/privacytest.

func TestRefusals(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "exactly one of -number or -conf"},
		{[]string{"-number", "13800138005", "-conf", "1234"}, "exactly one of -number or -conf"},
		{[]string{"-number", "12-34"}, "fewer than 5 digits"},
		{[]string{"-conf", "12ab"}, "not a conference id"},
		{[]string{"-conf", "123456789"}, "not a conference id"},
		{[]string{"-number"}, "flag needs an argument"},
		{[]string{"13800138005"}, "unexpected argument"},
	} {
		var out strings.Builder
		err := run(context.Background(), c.args, getenv, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"-h"}, getenv, &out); !errors.Is(err, svc.ErrHelp) || !strings.Contains(out.String(), "-number") {
		t.Errorf("-h: %v\n%s", err, out.String())
	}
}

func TestNational(t *testing.T) {
	for in, want := range map[string]string{
		"13800138005": "13800138005", "+86 138-0013-8005": "13800138005", "008613800138005": "13800138005",
		"8613800138005": "13800138005", "010-62345678": "01062345678", "+44 20 7946 0958": "442079460958",
	} {
		if got := national(in); got != want {
			t.Errorf("national(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainsNumber(t *testing.T) {
	for in, want := range map[string]bool{
		`{"number":"13800138005"}`:   true,
		`<to>+8613800138005</to>`:    true,
		`to=008613800138005&x`:       true,
		`{"number":"113800138005"}`:  false, // a longer number
		`{"number":"138001380051"}`:  false,
		`{"callid":"x13800138005y"}`: true, // letters around are no digits: erring on the side of erasing
		`nothing`:                    false,
	} {
		if got := containsNumber([]byte(in), "13800138005"); got != want {
			t.Errorf("containsNumber(%s) = %v, want %v", in, got, want)
		}
	}
}
