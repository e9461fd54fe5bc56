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
	r := &readiness{out: stdout}
	if err := r.credentials(ctx, cfg); err != nil {
		return err
	}
	address, ok := r.callbackURLs(cfg, callbackURL)
	if !ok {
		return readinessResult(r.failed)
	}
	if err := r.callbackReachable(ctx, address); err != nil {
		return err
	}
	return readinessResult(r.failed)
}

// readiness prints one line per check and counts the failed ones.
type readiness struct {
	out    io.Writer
	failed int
}

func (r *readiness) report(ok bool, format string, a ...any) {
	status := "OK  "
	if !ok {
		status, r.failed = "FAIL", r.failed+1
	}
	fmt.Fprintf(r.out, "%s %s\n", status, fmt.Sprintf(format, a...))
}

func (r *readiness) warn(format string, a ...any) {
	fmt.Fprintf(r.out, "WARN %s\n", fmt.Sprintf(format, a...))
}

// credentials asks the platform about a conference that cannot exist: an
// authenticated "not found" proves the credentials without creating or
// billing anything.
func (r *readiness) credentials(ctx context.Context, cfg Config) error {
	if cfg.YTXInsecureSkipVerify {
		r.warn("the platform's TLS certificate is not verified (ytx-insecure-skip-verify)")
	}
	p, err := NewYTX(cfg, nil)
	if err != nil {
		return err
	}
	_, err = p.QueryConfState(ctx, readinessProbeConfID)
	var se *yuntongxun.StatusError
	switch {
	case err == nil, isPlatformNotFound(err):
		r.report(true, "credentials: %s accepted account %s and app %s (QueryConfState of a conference that does not exist)", cfg.YTXBaseURL, cfg.YTXAccountSID, cfg.YTXAppID)
	case errors.As(err, &se) && statusClass(se) == yuntongxun.ClassAuth:
		r.report(false, "credentials: refused with %s %s: check YTX_ACCOUNT_SID, YTX_AUTH_TOKEN, YTX_APP_ID, the clock (timestamps older than 24 h are refused) and YTX_BASE_URL (sandbox apps only work on the sandbox)", se.StatusCode, se.StatusMsg)
	case errors.As(err, &se):
		// Not an authentication code: the request was authenticated, but
		// "no such conference" has a code we do not know yet.
		r.warn("credentials: probably accepted, but the answer %s %s is not a known \"no such conference\" code: note it in docs/yuntongxun.md", se.StatusCode, se.StatusMsg)
	default:
		r.report(false, "credentials: platform not reachable at %s: %v", cfg.YTXBaseURL, err)
	}
	return nil
}

// callbackURLs prints the console's notification address and the URL each
// callback kind will arrive at; ok is false when the address is unusable.
func (r *readiness) callbackURLs(cfg Config, callbackURL string) (address string, ok bool) {
	if callbackURL == "" {
		r.report(false, "callback URLs: give svc-callback's public notification address with -callback-url https://host/yt/<secret>/ (or CONF_CALLBACK_URL)")
		return "", false
	}
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasPrefix(u.Path, "/yt/") {
		r.report(false, "callback URLs: %q is not an http(s) URL under /yt/<secret>", callbackURL)
		return "", false
	}
	if u.Scheme != "https" {
		r.warn("callback URLs: %s is not https: the secret in the path travels in clear text", u.Redacted())
	}
	address = strings.TrimRight(callbackURL, "/") + "/"
	fmt.Fprintf(r.out, "INFO console notification address (IVR 通知地址): %s\n", address)
	for _, kind := range contract.CallbackKinds {
		carried := contract.CallbackURL(cfg.YTXCallbackBaseURL, kind)
		arrives := carried
		if cfg.YTXCallbackBaseURL == "" {
			arrives = address + carried
		}
		fmt.Fprintf(r.out, "INFO   %-9s commands carry %q → %s\n", kind, carried, arrives)
	}
	return address, true
}

// callbackReachable checks that svc-callback answers at its public address
// with this secret (a GET, which stores nothing).
func (r *readiness) callbackReachable(ctx context.Context, address string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		r.report(false, "svc-callback: %s not reachable: %v", address, err)
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), "confapplet svc-callback"):
		r.report(true, "svc-callback: answers at %s with this secret", address)
	case resp.StatusCode == http.StatusNotFound:
		r.report(false, "svc-callback: %s answers 404: wrong secret (CALLBACK_SECRET) or not svc-callback behind this address", address)
	default:
		r.report(false, "svc-callback: %s answers %d %q", address, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func readinessResult(failed int) error {
	if failed > 0 {
		return fmt.Errorf("readiness: %d check(s) failed", failed)
	}
	return nil
}
