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

// YTX is the Platform of the Yuntongxun REST client. Every command carries
// the relative callback URLs contract.CallbackPath(kind); invitations carry
// no joinurl (DESIGN-NOTES: one invitation, one OnConfInviteJoin).
type YTX struct{ c *yuntongxun.Client }

// NewYTX builds the platform client of cfg. hc nil means a client whose
// connection pool fits cfg.Concurrency: the default transport keeps only 2
// idle connections per host, so under load every request beyond them would
// open (and then close) a TLS connection of its own.
func NewYTX(cfg Config, hc *http.Client) (*YTX, error) {
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
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
		Callbacks: yuntongxun.CallbackURLs{
			Created:   contract.CallbackPath(contract.KindCreated),
			Invite:    contract.CallbackPath(contract.KindInvite),
			Quit:      contract.CallbackPath(contract.KindQuit),
			Deleted:   contract.CallbackPath(contract.KindDeleted),
			Dismissed: contract.CallbackPath(contract.KindDismissed),
			Media:     contract.CallbackPath(contract.KindMedia),
			// Joined stays empty: see DESIGN-NOTES.
		},
	})
	if err != nil {
		return nil, err
	}
	return &YTX{c: c}, nil
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

// platformNotFoundCodes are the statusCodes meaning "no such conference"
// (2013-03-22 list: 110128 bad conference id).
var platformNotFoundCodes = map[string]bool{yuntongxun.CodeBadConfID: true}

// platformError turns a platform failure into the contract error the caller
// sees: a statusCode answer → platform_error with the code in error.data, a
// transport failure → platform_unavailable, the caller's deadline → timeout.
func platformError(err error) *contract.Error {
	if err == nil {
		return nil
	}
	if e, ok := contract.AsError(err); ok {
		return e
	}
	var se *yuntongxun.StatusError
	if errors.As(err, &se) {
		return contract.Errorf(contract.CodePlatform, "platform refused %s: %s %s", se.Command, se.StatusCode, se.StatusMsg).
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
// the conference.
func isPlatformNotFound(err error) bool {
	var se *yuntongxun.StatusError
	return errors.As(err, &se) && platformNotFoundCodes[se.StatusCode]
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
