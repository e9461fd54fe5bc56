package yuntongxun

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Retries. Only QueryConfState is ever retried. Every other command changes
// the platform's state, and a lost response does not tell whether the
// platform executed it: retrying CreateConf would create (and bill) a second
// conference, retrying InviteJoinConf would dial and bill the invitee twice,
// and retrying Dismiss/Quit/Mute/Play/Record could hit a different state
// than the caller meant. Callers that need at-least-once must reconcile
// (QueryConfState, callbacks) instead of re-sending blindly.

// CreateConfOptions are CreateConf's attributes, as the platform documents
// them (docs/yuntongxun.md). Zero values
// leave an attribute out, so the platform applies its default. The URL
// attributes come from Config.Callbacks.
type CreateConfOptions struct {
	// MaxMember is the member limit, 3..300; 0 leaves it out (platform
	// default 3). It is sent both as the attribute and in the query, as
	// several clients do.
	MaxMember     int
	Passwd        string // "cannot be set for now" per the platform's docs
	DtmfReportURL string // relative URL for DTMF key presses
	AutoJoin      bool   // only effective when CreateConf is an IVR response command
	ConfDuration  int    // seconds, counted from the first join; 0 = unlimited
	AutoHangup    bool   // hang up members when the conference ends automatically
	ConfEndPrompt string // prompt file played before an automatic end
	AutoRecord    bool
	// VoiceMod: nil leaves it out (platform default 1 = all prompt tones);
	// 0 = background only, 2 = no prompts and no background.
	VoiceMod *int
	// AutoDelete: nil leaves it out (platform default true); false makes a
	// permanent conference (with ShortConf false).
	AutoDelete *bool
	ShortConf  bool
}

// CreateConfResult is CreateConf's answer.
type CreateConfResult struct {
	ConfID       string // 4–8 digits, 8 in every example
	VoipToConfID string // the id a VoIP client dials to join directly; may be ""
	Password     string // a generated password, if the platform returns one ([U] element name)
}

// DismissConfOptions are DismissConf's attributes besides the URLs.
type DismissConfOptions struct {
	// AutoHangup hangs the members up; the platform then sends no quiturl
	// notifications, so it is off unless asked for.
	AutoHangup bool
	RecordURL  string // relative URL for the recording-control result
}

// InviteOptions are InviteJoinConf's attributes besides number and URLs.
type InviteOptions struct {
	// Host makes the invitee the conference's host (role=1); only one host
	// exists, the last one set wins.
	Host bool
	// Listener makes the invitee unable to speak (speak=0).
	Listener bool
}

// InviteResult is InviteJoinConf's answer.
type InviteResult struct {
	CallSid string // 32 characters; read from callSid or callid
	OrderID string
}

// ConfState is QueryConfState's answer.
type ConfState struct {
	State int // 1 = the conference exists (the only value seen in sources)
	Count int // number of members
}

// PlayOptions are ConfPlay's attributes.
type PlayOptions struct {
	FileName string // wav file, required
	// Loop: 0 leaves it out (platform default 1); -1 loops forever.
	Loop            int
	PlayCompleteURL string // relative URL for the play-finished notification
}

// RecordOptions are ConfRecord's attributes.
type RecordOptions struct {
	Time             int    // seconds; 0 = no limit
	TimeoutRecordURL string // relative URL for the result when Time runs out
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return ""
}

// Command names: the root element of a command's XML body, which the
// platform dispatches on (whatever the path), and the name errors report.
const (
	CmdCreateConf     = "CreateConf"
	CmdDismissConf    = "DismissConf"
	CmdInviteJoinConf = "InviteJoinConf"
	CmdQuitConf       = "QuitConf"
	CmdConfMute       = "ConfMute"
	CmdConfUnMute     = "ConfUnMute"
	CmdConfPlay       = "ConfPlay"
	CmdConfStopPlay   = "ConfStopPlay"
	CmdConfRecord     = "ConfRecord"
	CmdConfStopRecord = "ConfStopRecord"
	CmdQueryConfState = "QueryConfState"
)

// confCommand starts a command on /ivr/conf?confid= with the confid attribute.
func confCommand(name, confID string) *command {
	cmd := &command{name: name, path: "/ivr/conf", query: [][2]string{{"confid", confID}}}
	cmd.add("confid", confID)
	return cmd
}

func needConfID(cmd, confID string) error {
	if confID == "" {
		return fmt.Errorf("yuntongxun %s: empty confid: %w", cmd, ErrInvalidArgument)
	}
	return nil
}

// CreateConf creates a conference. Never retried: see the note on retries.
func (c *Client) CreateConf(ctx context.Context, o CreateConfOptions) (CreateConfResult, error) {
	cmd := &command{name: CmdCreateConf, path: "/ivr/createconf"}
	if o.MaxMember != 0 {
		cmd.query = append(cmd.query, [2]string{"maxmember", strconv.Itoa(o.MaxMember)})
	}
	cmd.add("action", c.cb.Created)
	if o.MaxMember != 0 {
		cmd.add("maxmember", strconv.Itoa(o.MaxMember))
	}
	cmd.add("passwd", o.Passwd)
	cmd.add("dtmfreporturl", o.DtmfReportURL)
	cmd.add("delreporturl", c.cb.Deleted)
	cmd.add("autojoin", boolAttr(o.AutoJoin))
	cmd.add("joinurl", c.cb.Joined)
	if o.ConfDuration != 0 {
		cmd.add("confduration", strconv.Itoa(o.ConfDuration))
	}
	cmd.add("autohangup", boolAttr(o.AutoHangup))
	cmd.add("confendprompt", o.ConfEndPrompt)
	cmd.add("autorecord", boolAttr(o.AutoRecord))
	cmd.add("quiturl", c.cb.Quit)
	cmd.add("mediaopturl", c.cb.Media)
	if o.VoiceMod != nil {
		cmd.add("voicemod", strconv.Itoa(*o.VoiceMod))
	}
	if o.AutoDelete != nil {
		cmd.add("autodelete", strconv.FormatBool(*o.AutoDelete))
	}
	cmd.add("shortconf", boolAttr(o.ShortConf))
	f, err := c.do(ctx, cmd)
	if err != nil {
		return CreateConfResult{}, err
	}
	r := CreateConfResult{
		ConfID:       f.first("confid"),
		VoipToConfID: f.first("voiptoconfid"),
		Password:     f.first("passwd", "password"),
	}
	if r.ConfID == "" {
		return r, &TransportError{Command: cmd.name, HTTPStatus: 200, Err: errors.New("success answer without confid")}
	}
	return r, nil
}

// DismissConf ends a conference. Never retried: see the note on retries.
func (c *Client) DismissConf(ctx context.Context, confID string, o DismissConfOptions) error {
	if err := needConfID(CmdDismissConf, confID); err != nil {
		return err
	}
	cmd := confCommand(CmdDismissConf, confID)
	cmd.add("action", c.cb.Dismissed)
	cmd.add("delurl", c.cb.Deleted)
	cmd.add("autohangup", boolAttr(o.AutoHangup))
	if !o.AutoHangup {
		// The platform ignores quiturl with autohangup=true, by its documentation.
		cmd.add("quiturl", c.cb.Quit)
	}
	cmd.add("recordurl", o.RecordURL)
	_, err := c.do(ctx, cmd)
	return err
}

// InviteJoinConf dials number (several joined with '#') into a conference.
// Never retried: a retry after a lost answer would dial and bill twice.
func (c *Client) InviteJoinConf(ctx context.Context, confID, number string, o InviteOptions) (InviteResult, error) {
	if err := needConfID(CmdInviteJoinConf, confID); err != nil {
		return InviteResult{}, err
	}
	if number == "" {
		return InviteResult{}, fmt.Errorf("yuntongxun InviteJoinConf: empty number: %w", ErrInvalidArgument)
	}
	cmd := confCommand(CmdInviteJoinConf, confID)
	cmd.add("number", number)
	cmd.add("action", c.cb.Invite)
	if o.Host {
		cmd.add("role", "1")
	}
	if o.Listener {
		cmd.add("speak", "0")
	}
	cmd.add("joinurl", c.cb.Joined)
	f, err := c.do(ctx, cmd)
	if err != nil {
		return InviteResult{}, err
	}
	// The platform's SDK models name the call id callSid, some of its
	// older examples callid: accept both.
	r := InviteResult{CallSid: f.first("callsid", "callid"), OrderID: f.first("orderid")}
	if r.CallSid == "" {
		return r, &TransportError{Command: cmd.name, HTTPStatus: 200, Err: errors.New("success answer without callSid")}
	}
	return r, nil
}

// QuitConf removes one member (or cancels its invitation). Never retried.
func (c *Client) QuitConf(ctx context.Context, confID, callID string) error {
	return c.callCommand(ctx, CmdQuitConf, confID, callID, c.cb.Quit)
}

// ConfMute mutes one member. Never retried.
func (c *Client) ConfMute(ctx context.Context, confID, callID string) error {
	return c.callCommand(ctx, CmdConfMute, confID, callID, c.cb.Media)
}

// ConfUnMute unmutes one member. Never retried.
func (c *Client) ConfUnMute(ctx context.Context, confID, callID string) error {
	return c.callCommand(ctx, CmdConfUnMute, confID, callID, c.cb.Media)
}

func (c *Client) callCommand(ctx context.Context, name, confID, callID, action string) error {
	if err := needConfID(name, confID); err != nil {
		return err
	}
	if callID == "" {
		return fmt.Errorf("yuntongxun %s: empty callid: %w", name, ErrInvalidArgument)
	}
	cmd := confCommand(name, confID)
	cmd.add("callid", callID)
	cmd.add("action", action)
	_, err := c.do(ctx, cmd)
	return err
}

// ConfPlay plays a prompt into the conference. Never retried.
func (c *Client) ConfPlay(ctx context.Context, confID string, o PlayOptions) error {
	if err := needConfID(CmdConfPlay, confID); err != nil {
		return err
	}
	if o.FileName == "" {
		return fmt.Errorf("yuntongxun ConfPlay: empty filename: %w", ErrInvalidArgument)
	}
	cmd := confCommand(CmdConfPlay, confID)
	cmd.add("filename", o.FileName)
	if o.Loop != 0 {
		cmd.add("loop", strconv.Itoa(o.Loop))
	}
	cmd.add("action", c.cb.Media)
	cmd.add("playcompleteurl", o.PlayCompleteURL)
	_, err := c.do(ctx, cmd)
	return err
}

// ConfStopPlay stops the prompt. Never retried.
func (c *Client) ConfStopPlay(ctx context.Context, confID string) error {
	return c.confOnly(ctx, CmdConfStopPlay, confID)
}

// ConfRecord starts recording the conference. Never retried.
func (c *Client) ConfRecord(ctx context.Context, confID string, o RecordOptions) error {
	if err := needConfID(CmdConfRecord, confID); err != nil {
		return err
	}
	cmd := confCommand(CmdConfRecord, confID)
	cmd.add("action", c.cb.Media)
	if o.Time != 0 {
		cmd.add("time", strconv.Itoa(o.Time))
	}
	cmd.add("timeoutrecordurl", o.TimeoutRecordURL)
	_, err := c.do(ctx, cmd)
	return err
}

// ConfStopRecord stops recording. Never retried.
func (c *Client) ConfStopRecord(ctx context.Context, confID string) error {
	return c.confOnly(ctx, CmdConfStopRecord, confID)
}

func (c *Client) confOnly(ctx context.Context, name, confID string) error {
	if err := needConfID(name, confID); err != nil {
		return err
	}
	cmd := confCommand(name, confID)
	cmd.add("action", c.cb.Media)
	_, err := c.do(ctx, cmd)
	return err
}

// Backoff of QueryConfState: up to queryAttempts attempts, waiting
// queryBackoff, then twice as long each time, never past ctx's deadline.
const (
	queryAttempts = 4
	queryBackoff  = 100 * time.Millisecond
)

// QueryConfState asks for a conference's state and member count. It only
// reads, so it is retried on transport failures and 5xx/429 answers, with
// backoff, as long as ctx allows; a statusCode answer is final.
func (c *Client) QueryConfState(ctx context.Context, confID string) (ConfState, error) {
	if err := needConfID(CmdQueryConfState, confID); err != nil {
		return ConfState{}, err
	}
	wait := queryBackoff
	var lastErr error
	for attempt := 1; ; attempt++ {
		cmd := confCommand(CmdQueryConfState, confID)
		f, err := c.do(ctx, cmd)
		if err == nil {
			return parseConfState(f)
		}
		lastErr = err
		if attempt == queryAttempts || !retryable(err) {
			return ConfState{}, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return ConfState{}, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ConfState{}, fmt.Errorf("%w (while waiting to retry: %v)", lastErr, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

func parseConfState(f fields) (ConfState, error) {
	var s ConfState
	var err error
	if v := f.first("state"); v != "" {
		if s.State, err = strconv.Atoi(v); err != nil {
			return s, &TransportError{Command: CmdQueryConfState, HTTPStatus: 200, Err: fmt.Errorf("state %q: %w", v, err)}
		}
	}
	if v := f.first("count"); v != "" {
		if s.Count, err = strconv.Atoi(v); err != nil {
			return s, &TransportError{Command: CmdQueryConfState, HTTPStatus: 200, Err: fmt.Errorf("count %q: %w", v, err)}
		}
	}
	return s, nil
}
