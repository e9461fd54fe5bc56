package conference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/yuntongxun"
)

// readinessProbeConfID is the conference QueryConfState asks about: one
// that cannot exist (the platform issues no confid of zeros), so the read
// changes nothing and bills nothing, and the answer says whether the
// credentials were accepted.
const readinessProbeConfID = "00000000"

// runReadiness is `svc-conference readiness -callback-url <url> [the
// service's flags]`, the check an operator runs with real credentials
// before going live:
//
//  1. the credentials, app id and TLS settings, with a harmless read
//     (QueryConfState of a conference that cannot exist: "not found" means
//     the platform authenticated us);
//  2. the callback URLs: what to enter as the console's notification
//     address and what the commands will carry;
//  3. that svc-callback answers at its public address with this secret
//     (GET on the notification address itself; nothing is stored).
//
// It prints one line per check and returns an error when one failed.
func runReadiness(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	callbackURL := getenv("CONF_CALLBACK_URL")
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-callback-url" || a == "--callback-url":
			if i+1 >= len(args) {
				return errors.New("-callback-url needs a value")
			}
			callbackURL = args[i+1]
			i++
		case strings.HasPrefix(a, "-callback-url=") || strings.HasPrefix(a, "--callback-url="):
			callbackURL = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := parseConfig(rest, getenv, stdout)
	if err != nil {
		return err
	}
	if callbackURL == "" {
		callbackURL = cfg.YTXCallbackBaseURL
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	failed := 0
	report := func(ok bool, format string, a ...any) {
		status := "OK  "
		if !ok {
			status, failed = "FAIL", failed+1
		}
		fmt.Fprintf(stdout, "%s %s\n", status, fmt.Sprintf(format, a...))
	}
	warn := func(format string, a ...any) { fmt.Fprintf(stdout, "WARN %s\n", fmt.Sprintf(format, a...)) }

	// 1. Credentials.
	if cfg.YTXInsecureSkipVerify {
		warn("the platform's TLS certificate is not verified (ytx-insecure-skip-verify)")
	}
	p, err := NewYTX(cfg, nil)
	if err != nil {
		return err
	}
	_, err = p.QueryConfState(ctx, readinessProbeConfID)
	var se *yuntongxun.StatusError
	switch {
	case err == nil, isPlatformNotFound(err):
		report(true, "credentials: %s accepted account %s and app %s (QueryConfState of a conference that does not exist)", cfg.YTXBaseURL, cfg.YTXAccountSID, cfg.YTXAppID)
	case errors.As(err, &se) && statusClass(se) == yuntongxun.ClassAuth:
		report(false, "credentials: refused with %s %s: check YTX_ACCOUNT_SID, YTX_AUTH_TOKEN, YTX_APP_ID, the clock (timestamps older than 24 h are refused) and YTX_BASE_URL (sandbox apps only work on the sandbox)", se.StatusCode, se.StatusMsg)
	case errors.As(err, &se):
		// Not an authentication code: the request was authenticated, but
		// "no such conference" has a code we do not know yet.
		warn("credentials: probably accepted, but the answer %s %s is not a known \"no such conference\" code: note it in docs/yuntongxun.md", se.StatusCode, se.StatusMsg)
	default:
		report(false, "credentials: platform not reachable at %s: %v", cfg.YTXBaseURL, err)
	}

	// 2. Callback URLs.
	if callbackURL == "" {
		report(false, "callback URLs: give svc-callback's public notification address with -callback-url https://host/yt/<secret>/ (or CONF_CALLBACK_URL)")
		return readinessResult(failed)
	}
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasPrefix(u.Path, "/yt/") {
		report(false, "callback URLs: %q is not an http(s) URL under /yt/<secret>", callbackURL)
		return readinessResult(failed)
	}
	if u.Scheme != "https" {
		warn("callback URLs: %s is not https: the secret in the path travels in clear text", u.Redacted())
	}
	address := strings.TrimRight(callbackURL, "/") + "/"
	fmt.Fprintf(stdout, "INFO console notification address (IVR 通知地址): %s\n", address)
	for _, kind := range contract.CallbackKinds {
		carried := contract.CallbackURL(cfg.YTXCallbackBaseURL, kind)
		arrives := carried
		if cfg.YTXCallbackBaseURL == "" {
			arrives = address + carried
		}
		fmt.Fprintf(stdout, "INFO   %-9s commands carry %q → %s\n", kind, carried, arrives)
	}

	// 3. svc-callback at its public address.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		report(false, "svc-callback: %s not reachable: %v", address, err)
		return readinessResult(failed)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), "confapplet svc-callback"):
		report(true, "svc-callback: answers at %s with this secret", address)
	case resp.StatusCode == http.StatusNotFound:
		report(false, "svc-callback: %s answers 404: wrong secret (CALLBACK_SECRET) or not svc-callback behind this address", address)
	default:
		report(false, "svc-callback: %s answers %d %q", address, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return readinessResult(failed)
}

func readinessResult(failed int) error {
	if failed > 0 {
		return fmt.Errorf("readiness: %d check(s) failed", failed)
	}
	return nil
}
