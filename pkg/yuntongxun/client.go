// Package yuntongxun is a client of Yuntongxun's (cloopen.com) REST API,
// version 2013-12-26, for its IVR conference commands.
//
// Everything it does follows the platform's documentation, summarised in
// docs/yuntongxun.md: XML request bodies whose command
// parameters are attributes, sig and Authorization computed from the account
// SID, auth token and a yyyyMMddHHmmss timestamp in Asia/Shanghai, responses
// in XML or JSON, an in-band statusCode. Where the platform's behaviour is
// unknown the client accepts every plausible variant (callSid or callid,
// XML or JSON, numbers as strings or numbers).
//
// The companion package confapplet/pkg/ytxsim simulates the platform.
package yuntongxun

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Base URLs of the platform, as documented.
const (
	ProductionBaseURL = "https://app.cloopen.com:8883/2013-12-26"
	SandboxBaseURL    = "https://sandboxapp.cloopen.com:8883/2013-12-26"
)

// TimeLayout is the platform's timestamp format (yyyyMMddHHmmss), used for
// the auth timestamp and in every callback time field.
const TimeLayout = "20060102150405"

// DefaultTimeout bounds one HTTP exchange when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes bounds what is read of a response: the platform's answers
// are a few hundred bytes, so anything bigger is not a platform answer.
const maxResponseBytes = 1 << 20

// CallbackURLs are the relative URLs the client puts into each command's URL
// attributes; the platform appends them to the application's notification
// address set in its console. "" leaves the attribute out, so the platform
// sends no notification of that kind.
type CallbackURLs struct {
	Created   string // CreateConf action
	Invite    string // InviteJoinConf action: the invitation's result
	Joined    string // CreateConf and InviteJoinConf joinurl
	Quit      string // CreateConf quiturl, QuitConf action, DismissConf quiturl
	Deleted   string // CreateConf delreporturl, DismissConf delurl
	Dismissed string // DismissConf action
	Media     string // CreateConf mediaopturl, action of ConfMute, ConfUnMute, ConfPlay, ConfStopPlay, ConfRecord, ConfStopRecord
}

// Config configures a Client. AccountSID, AuthToken and AppID are required.
type Config struct {
	// BaseURL is the API prefix up to and including the version, e.g.
	// ProductionBaseURL; "" means ProductionBaseURL.
	BaseURL    string
	AccountSID string
	AuthToken  string
	AppID      string
	// Timeout bounds each HTTP exchange (each attempt, when retried);
	// 0 means DefaultTimeout. The caller's context deadline applies too.
	Timeout time.Duration
	// Location is the platform's time zone, for the auth timestamp; nil
	// means Asia/Shanghai.
	Location *time.Location
	// Callbacks are the relative callback URLs put into the commands.
	Callbacks CallbackURLs
	// HTTPClient sends the requests; nil means a client of its own.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now. Tests fix it.
	Now func() time.Time
	// StatusClasses overrides Classify for the codes it names: what an
	// operator learns on first contact (ParseStatusClasses), without a
	// rebuild.
	StatusClasses map[string]Class
}

// Client sends conference commands to the platform. It is safe for
// concurrent use.
type Client struct {
	base string // BaseURL without a trailing "/"
	sid  string
	tok  string
	app  string
	tout time.Duration
	loc  *time.Location
	cb   CallbackURLs
	hc   *http.Client
	now  func() time.Time
	cls  map[string]Class
}

// New validates cfg and returns a Client. It does not contact the platform.
func New(cfg Config) (*Client, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.AppID == "" {
		return nil, errors.New("yuntongxun: account SID, auth token and app id are required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = ProductionBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("yuntongxun: base URL %q: want http(s)://host[:port]/version", base)
	}
	c := &Client{
		base: strings.TrimRight(base, "/"),
		sid:  cfg.AccountSID,
		tok:  cfg.AuthToken,
		app:  cfg.AppID,
		tout: cfg.Timeout,
		loc:  cfg.Location,
		cb:   cfg.Callbacks,
		hc:   cfg.HTTPClient,
		now:  cfg.Now,
		cls:  cfg.StatusClasses,
	}
	if c.tout <= 0 {
		c.tout = DefaultTimeout
	}
	if c.loc == nil {
		c.loc = Shanghai()
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Shanghai returns the Asia/Shanghai location. Without time-zone data on the
// host it falls back to a fixed UTC+8 zone, which is exact: China has had no
// daylight saving time since 1991.
func Shanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}

// signature returns the sig query parameter: upper(hex(md5(sid + token + ts))).
func signature(accountSID, authToken, ts string) string {
	sum := md5.Sum([]byte(accountSID + authToken + ts))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// authorization returns the Authorization header: base64(sid + ":" + ts).
func authorization(accountSID, ts string) string {
	return base64.StdEncoding.EncodeToString([]byte(accountSID + ":" + ts))
}

// attr is one XML attribute of a command element; attributes are kept in a
// slice, not a map, so the request bytes are the same on every run.
type attr struct{ name, value string }

// command is one request: the command element's name and attributes, the
// path below /Accounts/{sid}, and the query parameters after sig.
type command struct {
	name  string
	path  string      // "/ivr/createconf" or "/ivr/conf"
	query [][2]string // after sig, in this order
	attrs []attr
}

// add appends an attribute unless value is "" (the platform's default).
func (c *command) add(name, value string) {
	if value != "" {
		c.attrs = append(c.attrs, attr{name, value})
	}
}

// body renders the XML request body in the documented form:
// <?xml …?><Request><Appid>…</Appid><Cmd a="…"/></Request>.
func (c *command) body(appID string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Request><Appid>`)
	escape(&b, appID)
	b.WriteString(`</Appid><`)
	b.WriteString(c.name)
	for _, a := range c.attrs {
		b.WriteByte(' ')
		b.WriteString(a.name)
		b.WriteString(`="`)
		escape(&b, a.value)
		b.WriteByte('"')
	}
	b.WriteString(`/></Request>`)
	return b.Bytes()
}

// escape writes s with the five XML special characters escaped, so a value
// can never break out of its attribute.
func escape(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
}

// timestamp is the auth timestamp for now.
func (c *Client) timestamp() string { return c.now().In(c.loc).Format(TimeLayout) }

// newRequest builds the HTTP request of cmd with a fresh timestamp.
func (c *Client) newRequest(ctx context.Context, cmd *command) (*http.Request, error) {
	ts := c.timestamp()
	var u strings.Builder
	u.WriteString(c.base)
	u.WriteString("/Accounts/")
	u.WriteString(url.PathEscape(c.sid))
	u.WriteString(cmd.path)
	u.WriteString("?sig=")
	u.WriteString(signature(c.sid, c.tok, ts))
	for _, q := range cmd.query {
		u.WriteString("&" + url.QueryEscape(q[0]) + "=" + url.QueryEscape(q[1]))
	}
	body := cmd.body(c.app)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// Header names and values as in the platform's official example. The
	// client asks for XML: the /ivr/ family is documented as XML-only, and
	// the response parser takes JSON too in case the platform answers it.
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("Content-Type", "application/xml;charset=utf-8")
	req.Header.Set("Authorization", authorization(c.sid, ts))
	req.Header.Set("User-Agent", "confapplet-yuntongxun/1")
	return req, nil
}

// do sends cmd once and returns the response fields (lower-case names) of a
// successful answer (statusCode 000000).
func (c *Client) do(ctx context.Context, cmd *command) (f fields, err error) {
	ctx, sp := startSpan(ctx, cmd.name)
	if sp != nil {
		defer func() { endSpan(sp, err) }()
	}
	ctx, cancel := context.WithTimeout(ctx, c.tout)
	defer cancel()
	req, err := c.newRequest(ctx, cmd)
	if err != nil {
		return nil, &TransportError{Command: cmd.name, Err: fmt.Errorf("build request: %w", err)}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The client wraps the context's error, so errors.Is(err,
		// context.DeadlineExceeded) holds on a timeout.
		return nil, &TransportError{Command: cmd.name, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &TransportError{Command: cmd.name, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &TransportError{Command: cmd.name, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("HTTP %s: %s", resp.Status, snippet(raw))}
	}
	if len(raw) > maxResponseBytes {
		return nil, &TransportError{Command: cmd.name, HTTPStatus: resp.StatusCode, Err: errors.New("response body over 1 MiB")}
	}
	f, err = parseResponse(resp.Header.Get("Content-Type"), raw)
	if err != nil {
		return nil, &TransportError{Command: cmd.name, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("bad response body %q: %w", snippet(raw), err)}
	}
	code, ok := f.get("statuscode")
	if !ok {
		return nil, &TransportError{Command: cmd.name, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("response without statusCode: %q", snippet(raw))}
	}
	if code != StatusOK {
		msg, _ := f.get("statusmsg")
		cls, ok := c.cls[code]
		if !ok {
			cls = Classify(code)
		}
		return nil, &StatusError{Command: cmd.name, StatusCode: code, StatusMsg: msg, Class: cls}
	}
	return f, nil
}

// snippet shortens a body for an error message.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
