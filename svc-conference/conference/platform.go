package conference

import (
	"context"
	"errors"
	"net/http"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/yuntongxun"
)

// Platform is what the service asks of the telephony platform. *YTX
// implements it with the Yuntongxun REST client; tests use the same client
// against the simulator.
type Platform interface {
	CreateConf(ctx context.Context, maxMember int) (confID string, err error)
	DismissConf(ctx context.Context, confID string) error
	// InviteJoinConf dials one number into confID.
	InviteJoinConf(ctx context.Context, confID, number string) (callID string, err error)
	QuitConf(ctx context.Context, confID, callID string) error
	// QueryConfState asks the platform itself; ErrPlatformNotFound when it
	// does not know confID.
	QueryConfState(ctx context.Context, confID string) (contract.ConfState, error)
	ConfMute(ctx context.Context, confID, callID string) error
	ConfUnMute(ctx context.Context, confID, callID string) error
	ConfRecord(ctx context.Context, confID string) error
	ConfStopRecord(ctx context.Context, confID string) error
}

// YTX is the Platform of the Yuntongxun REST client. Every command asks for
// every notification the platform offers for it (joinurl included: the
// invite-result notification may carry no result, and only the join
// notification's explicit result 0 makes a member joined, member.go), at
// contract.CallbackURL(Config.YTXCallbackBaseURL, kind).
type YTX struct{ c *yuntongxun.Client }

// NewYTX builds the platform client of cfg. hc nil means a client whose
// connection pool fits cfg.Concurrency: the default transport keeps only 2
// idle connections per host, so under load every request beyond them would
// open (and then close) a TLS connection of its own.
func NewYTX(cfg Config, hc *http.Client) (*YTX, error) {
	if hc == nil {
		tlsCfg, err := platformTLS(cfg)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsCfg
		tr.MaxIdleConns = cfg.Concurrency * 2
		tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
		tr.IdleConnTimeout = 90 * time.Second
		hc = &http.Client{Transport: tr}
	}
	c, err := yuntongxun.New(yuntongxun.Config{
		BaseURL:    cfg.YTXBaseURL,
		AccountSID: cfg.YTXAccountSID,
		AuthToken:  cfg.YTXAuthToken,
		AppID:      cfg.YTXAppID,
		Timeout:    cfg.YTXTimeout,
		Location:   cfg.location(),
		HTTPClient: hc,
		// Validate checked it.
		StatusClasses: cfg.statusClasses,
		Callbacks:     callbackURLs(cfg.YTXCallbackBaseURL),
	})
	if err != nil {
		return nil, err
	}
	return &YTX{c: c}, nil
}

// callbackURLs are the callback URLs of every kind: relative (the bare
// kind) when base is empty, else absolute under base.
func callbackURLs(base string) yuntongxun.CallbackURLs {
	u := func(kind string) string { return contract.CallbackURL(base, kind) }
	return yuntongxun.CallbackURLs{
		Created:   u(contract.KindCreated),
		Invite:    u(contract.KindInvite),
		Joined:    u(contract.KindJoined),
		Quit:      u(contract.KindQuit),
		Deleted:   u(contract.KindDeleted),
		Dismissed: u(contract.KindDismissed),
		Media:     u(contract.KindMedia),
	}
}

func (y *YTX) CreateConf(ctx context.Context, maxMember int) (string, error) {
	r, err := y.c.CreateConf(ctx, yuntongxun.CreateConfOptions{MaxMember: maxMember})
	return r.ConfID, err
}

func (y *YTX) DismissConf(ctx context.Context, confID string) error {
	return y.c.DismissConf(ctx, confID, yuntongxun.DismissConfOptions{})
}

func (y *YTX) InviteJoinConf(ctx context.Context, confID, number string) (string, error) {
	r, err := y.c.InviteJoinConf(ctx, confID, number, yuntongxun.InviteOptions{})
	return r.CallSid, err
}

func (y *YTX) QuitConf(ctx context.Context, confID, callID string) error {
	return y.c.QuitConf(ctx, confID, callID)
}

func (y *YTX) QueryConfState(ctx context.Context, confID string) (contract.ConfState, error) {
	s, err := y.c.QueryConfState(ctx, confID)
	if err != nil {
		return contract.ConfState{}, err
	}
	return contract.ConfState{State: s.State, Count: s.Count}, nil
}

func (y *YTX) ConfMute(ctx context.Context, confID, callID string) error {
	return y.c.ConfMute(ctx, confID, callID)
}

func (y *YTX) ConfUnMute(ctx context.Context, confID, callID string) error {
	return y.c.ConfUnMute(ctx, confID, callID)
}

func (y *YTX) ConfRecord(ctx context.Context, confID string) error {
	return y.c.ConfRecord(ctx, confID, yuntongxun.RecordOptions{})
}

func (y *YTX) ConfStopRecord(ctx context.Context, confID string) error {
	return y.c.ConfStopRecord(ctx, confID)
}

// platformError turns a platform failure into the contract error the caller
// sees. A statusCode answer is classified (yuntongxun.Classify, both code
// generations): an internal error or the concurrency limit →
// platform_unavailable (retryable), a full conference → limit_exceeded,
// anything else → platform_error; each carries the code in error.data. A
// transport failure → platform_unavailable, the caller's deadline →
// timeout.
func platformError(err error) *contract.Error {
	if err == nil {
		return nil
	}
	if e, ok := contract.AsError(err); ok {
		return e
	}
	var se *yuntongxun.StatusError
	if errors.As(err, &se) {
		code := contract.CodePlatform
		switch statusClass(se) {
		case yuntongxun.ClassBusy:
			code = contract.CodePlatformDown
		case yuntongxun.ClassConfFull:
			code = contract.CodeLimit
		}
		return contract.Errorf(code, "platform refused %s: %s %s", se.Command, se.StatusCode, se.StatusMsg).
			WithData(contract.PlatformErrorData{StatusCode: se.StatusCode, StatusMsg: se.StatusMsg})
	}
	if errors.Is(err, yuntongxun.ErrInvalidArgument) {
		// The client refused the arguments before sending anything.
		return contract.Errorf(contract.CodeInvalidParams, "invalid params: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		var te *yuntongxun.TransportError
		if !errors.As(err, &te) {
			return contract.Errorf(contract.CodeTimeout, "deadline passed")
		}
	}
	return contract.Errorf(contract.CodePlatformDown, "telephony platform unavailable: %v", err)
}

// isPlatformNotFound reports whether err says the platform does not know
// the conference (in either code generation).
func isPlatformNotFound(err error) bool {
	return platformClass(err) == yuntongxun.ClassConfNotFound
}

// isPlatformCallNotFound reports whether err says the call is not in the
// conference (QuitConf of a callid the platform does not have there).
func isPlatformCallNotFound(err error) bool {
	return platformClass(err) == yuntongxun.ClassCallNotFound
}

// platformClass is the class of err's statusCode, ClassRefused when err
// is not a statusCode answer.
func platformClass(err error) yuntongxun.Class {
	var se *yuntongxun.StatusError
	if !errors.As(err, &se) {
		return yuntongxun.ClassRefused
	}
	return statusClass(se)
}

// statusClass is the class the client gave se (Classify, or the codes
// configured in YTX_STATUS_CLASSES); for an error built without one, the
// built-in classification.
func statusClass(se *yuntongxun.StatusError) yuntongxun.Class {
	if se.Class != yuntongxun.ClassRefused {
		return se.Class
	}
	return yuntongxun.Classify(se.StatusCode)
}

// ambiguous reports whether the platform may have executed a command that
// failed with err (a timeout after the request was sent): an idempotent
// retry must then not run the command again.
func ambiguous(err error) bool {
	var se *yuntongxun.StatusError
	if errors.As(err, &se) {
		return false
	}
	var te *yuntongxun.TransportError
	return errors.As(err, &te) && te.HTTPStatus == 0
}
