package client

import (
	"context"

	"confapplet/pkg/contract"
)

// CreateConfParams are CreateConf's optional named params.
type CreateConfParams struct {
	MaxMember      int    `json:"maxmember,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// InviteParams are InviteJoinConf's params by name.
type InviteParams struct {
	ConfID         string `json:"confid"`
	Number         string `json:"number"` // one number, or several joined by '#'
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// WatchResult is WatchConf's result: the conference and the last event
// stored when the watch started.
type WatchResult = contract.WatchConfResult

// CreateConf creates a conference and returns its confid.
func (c *Client) CreateConf(ctx context.Context) (string, error) {
	var id string
	err := c.Call(ctx, contract.MethodCreateConf, []any{}, &id)
	return id, err
}

// CreateConfWith creates a conference with named params (max members,
// idempotency key).
func (c *Client) CreateConfWith(ctx context.Context, p CreateConfParams) (string, error) {
	var id string
	err := c.Call(ctx, contract.MethodCreateConf, p, &id)
	return id, err
}

// DismissConf ends a conference.
func (c *Client) DismissConf(ctx context.Context, confID string) error {
	return c.Call(ctx, contract.MethodDismissConf, []any{confID}, nil)
}

// InviteJoinConf dials number into confID and returns the callid.
func (c *Client) InviteJoinConf(ctx context.Context, confID, number string) (string, error) {
	var id string
	err := c.Call(ctx, contract.MethodInviteJoinConf, []any{confID, number}, &id)
	return id, err
}

// InviteJoinConfWith is InviteJoinConf by name, with an idempotency key.
func (c *Client) InviteJoinConfWith(ctx context.Context, p InviteParams) (string, error) {
	var id string
	err := c.Call(ctx, contract.MethodInviteJoinConf, p, &id)
	return id, err
}

// QuitConf hangs the member callID up.
func (c *Client) QuitConf(ctx context.Context, confID, callID string) error {
	return c.Call(ctx, contract.MethodQuitConf, []any{confID, callID}, nil)
}

// QueryConfState returns the conference's state and member count.
func (c *Client) QueryConfState(ctx context.Context, confID string) (contract.ConfState, error) {
	var s contract.ConfState
	err := c.Call(ctx, contract.MethodQueryConfState, []any{confID}, &s)
	return s, err
}

// GetConf returns the service's view of a conference.
func (c *Client) GetConf(ctx context.Context, confID string) (*contract.Conference, error) {
	var conf contract.Conference
	if err := c.Call(ctx, contract.MethodGetConf, []any{confID}, &conf); err != nil {
		return nil, err
	}
	return &conf, nil
}

// ConfMute mutes a member.
func (c *Client) ConfMute(ctx context.Context, confID, callID string) error {
	return c.Call(ctx, contract.MethodConfMute, []any{confID, callID}, nil)
}

// ConfUnMute unmutes a member.
func (c *Client) ConfUnMute(ctx context.Context, confID, callID string) error {
	return c.Call(ctx, contract.MethodConfUnMute, []any{confID, callID}, nil)
}

// ConfRecord starts recording.
func (c *Client) ConfRecord(ctx context.Context, confID string) error {
	return c.Call(ctx, contract.MethodConfRecord, []any{confID}, nil)
}

// ConfStopRecord stops recording.
func (c *Client) ConfStopRecord(ctx context.Context, confID string) error {
	return c.Call(ctx, contract.MethodConfStopRecord, []any{confID}, nil)
}

// WatchConf starts the events of confID after since on this client, and
// remembers the watch: after a reconnect the client calls WatchConf again
// from its last seq. since is also raised into the client's resume point.
func (c *Client) WatchConf(ctx context.Context, confID string, since uint64) (WatchResult, error) {
	c.mu.Lock()
	if since > c.lastSeq[confID] {
		c.lastSeq[confID] = since
	}
	c.watches[confID] = struct{}{}
	c.mu.Unlock()
	var r WatchResult
	err := c.Call(ctx, contract.MethodWatchConf, []any{confID, since}, &r)
	if err != nil {
		if _, ok := err.(*RPCError); ok {
			c.mu.Lock()
			delete(c.watches, confID)
			c.mu.Unlock()
		}
	}
	return r, err
}

// UnwatchConf stops the events of confID and forgets the watch.
func (c *Client) UnwatchConf(ctx context.Context, confID string) error {
	c.mu.Lock()
	delete(c.watches, confID)
	c.mu.Unlock()
	return c.Call(ctx, contract.MethodUnwatchConf, []any{confID}, nil)
}

// RefreshResult is RefreshToken's result.
type RefreshResult struct {
	Exp int64 `json:"exp"` // the new token's expiry, Unix seconds; 0 when the edge checks no tokens
}

// RefreshToken renews the connection token of the open connection before
// the current one expires (else the edge closes it with 4004). A refused
// token is an *RPCError with code 1012 (unauthorized) and leaves the
// connection as it was.
func (c *Client) RefreshToken(ctx context.Context, token string) (RefreshResult, error) {
	var r RefreshResult
	err := c.Call(ctx, contract.MethodRefreshToken, []any{token}, &r)
	return r, err
}
