package conference

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/yuntongxun"
)

// One function per method. Each returns the JSON-RPC result or a contract
// error; service.go turns them into replies.

// load returns confID's record or conf_not_found.
func (s *Service) load(c *call, confID string) (*record, *contract.Error) {
	r, _, err := s.st.get(c.ctx, confID)
	if errors.Is(err, errNoRecord) {
		return nil, contract.Errorf(contract.CodeConfNotFound, "conference %s not found", confID)
	}
	if err != nil {
		return nil, s.internal(c, err)
	}
	return r, nil
}

// authorize lets the owner and operators act on r.
func (s *Service) authorize(c *call, r *record) *contract.Error {
	if c.operator || r.Owner == c.clientID {
		return nil
	}
	c.log.Warn().Msg("forbidden: not the owner")
	return contract.Errorf(contract.CodeForbidden, "conference %s belongs to another client", r.ConfID)
}

// authorizeRead lets the owner, operators and the clients whose token
// grants them the conference (contract.HeaderWatch) read and watch r.
func (s *Service) authorizeRead(c *call, r *record) *contract.Error {
	if c.operator || r.Owner == c.clientID || granted(c.grants, r.ConfID) {
		return nil
	}
	c.log.Warn().Msg("forbidden: not the owner")
	return contract.Errorf(contract.CodeForbidden, "conference %s belongs to another client", r.ConfID)
}

// granted reports whether confID is one of the ','-joined grants.
func granted(grants, confID string) bool {
	for g := range strings.SplitSeq(grants, ",") {
		if g == confID {
			return true
		}
	}
	return false
}

// loadOwned is load + authorize.
func (s *Service) loadOwned(c *call, confID string) (*record, *contract.Error) {
	if e := checkConfID(confID); e != nil {
		return nil, e
	}
	c.withConf(confID)
	r, e := s.load(c, confID)
	if e != nil {
		return nil, e
	}
	return r, s.authorize(c, r)
}

// readOwned is loadOwned for the read methods: the record may come from
// the in-memory view (store.read).
func (s *Service) readOwned(c *call, confID string) (*record, *contract.Error) {
	if e := checkConfID(confID); e != nil {
		return nil, e
	}
	c.withConf(confID)
	r, err := s.st.read(c.ctx, confID)
	if errors.Is(err, errNoRecord) {
		return nil, contract.Errorf(contract.CodeConfNotFound, "conference %s not found", confID)
	}
	if err != nil {
		return nil, s.internal(c, err)
	}
	return r, s.authorizeRead(c, r)
}

// member finds callID in r, the record a handler read. A record read by a
// direct get may come from a lagging replica, so an absent member is looked
// up again on the bucket's leader before the handler believes it; the error
// is that read's, other than the record being gone.
func (s *Service) member(c *call, r *record, callID string) (*member, error) {
	if m := r.Members[callID]; m != nil {
		return m, nil
	}
	lr, _, err := s.st.getFromLeader(c.ctx, r.ConfID)
	if err != nil {
		if errors.Is(err, errNoRecord) {
			return nil, nil
		}
		return nil, err
	}
	return lr.Members[callID], nil
}

// platform runs one platform command, never after the caller's deadline,
// and measures it.
func (s *Service) platform(c *call, command string, fn func(ctx context.Context) error) error {
	if err := c.ctx.Err(); err != nil {
		return contract.Errorf(contract.CodeTimeout, "deadline passed before calling the platform")
	}
	start := time.Now()
	err := fn(c.ctx)
	outcome := "ok"
	if err != nil {
		outcome = string(platformError(err).Code)
	}
	s.met.platform.WithLabelValues(command, outcome).Observe(time.Since(start).Seconds())
	return err
}

// confPlatformError is platformError for a command on a recorded
// conference: when the platform no longer knows the conference (its
// deleted callback was lost, or has not been applied yet) the local record
// goes too and the caller gets conf_not_found.
func (s *Service) confPlatformError(c *call, err error) *contract.Error {
	if !isPlatformNotFound(err) || c.confID == "" {
		return platformError(err)
	}
	c.log.Warn().Msg("platform does not know the conference; record removed")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.st.update(ctx, c.confID, func(*record) error { return errRemove }); err != nil &&
		!errors.Is(err, errRemove) && !errors.Is(err, errNoRecord) {
		c.log.Error().Err(err).Msg("stale record not removed")
	}
	return contract.Errorf(contract.CodeConfNotFound, "conference %s not found", c.confID)
}

// refuse logs and counts a guard refusal.
func (s *Service) refuse(c *call, e *contract.Error) *contract.Error {
	s.met.refusals.WithLabelValues(string(e.Code)).Inc()
	c.log.Warn().Str("code", string(e.Code)).Str("error", e.Message).Msg("toll-fraud guard refused")
	return e
}

// idempotent runs fn once per idempotency key (see idempotency.go); with no
// key it just runs fn. fn's third result says whether a failure is
// ambiguous (the platform may have acted) and must be replayed as is.
func (s *Service) idempotent(c *call, key string, params any, fn func() (any, *contract.Error, bool)) (any, *contract.Error) {
	if key == "" {
		res, e, _ := fn()
		return res, e
	}
	if !contract.KeyPattern.MatchString(key) {
		return nil, contract.Errorf(contract.CodeInvalidParams, "idempotency_key: 1–128 printable ASCII characters")
	}
	resv, prev, err := s.idem.begin(c.ctx, idemKey(c.clientID, c.method, key), paramsHash(params))
	if err != nil {
		if e, ok := contract.AsError(err); ok {
			if res, ok := s.recordDialled(c, e); ok {
				return res, nil
			}
			return nil, e
		}
		return nil, s.internal(c, err)
	}
	if resv == nil {
		c.log.Info().Msg("idempotent replay")
		return prev, nil
	}
	res, e, keep := fn()
	var raw json.RawMessage
	if e == nil {
		b, err := json.Marshal(res)
		if err != nil {
			e, keep = contract.Errorf(contract.CodeInternal, "encode: %v", err), false
		}
		raw = b
	}
	// The caller's deadline may be gone; the outcome must still be kept
	// (finish retries through a leader election).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.idem.finish(ctx, resv, raw, e, keep); err != nil {
		c.log.Error().Err(err).Msg("idempotency outcome not stored")
	}
	if e != nil {
		return nil, e
	}
	return raw, nil
}

func (s *Service) createConf(c *call) (any, *contract.Error) {
	var req contract.CreateConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	if req.MaxMember == 0 {
		req.MaxMember = s.cfg.DefaultMaxMember
	}
	if req.MaxMember < s.cfg.MinMemberLimit || req.MaxMember > s.cfg.MaxMemberLimit {
		return nil, contract.Errorf(contract.CodeInvalidParams, "maxmember must be %d..%d", s.cfg.MinMemberLimit, s.cfg.MaxMemberLimit)
	}
	params := req
	params.IdempotencyKey = ""
	return s.idempotent(c, req.IdempotencyKey, params, func() (any, *contract.Error, bool) {
		if s.cfg.MaxConfsPerClient > 0 {
			owned, err := s.st.owned(c.ctx, c.clientID)
			if err != nil {
				return nil, s.internal(c, err), false
			}
			if len(owned) >= s.cfg.MaxConfsPerClient {
				return nil, s.refuse(c, contract.Errorf(contract.CodeLimit, "at most %d live conferences per client", s.cfg.MaxConfsPerClient).
					WithData(map[string]int{"limit": s.cfg.MaxConfsPerClient})), false
			}
		}
		if e, limit := s.budget.allowConf(c.ctx, c.source); e != nil {
			return nil, s.refuseBudget(c, e, limit), false
		}
		var confID string
		err := s.platform(c, yuntongxun.CmdCreateConf, func(ctx context.Context) (err error) {
			confID, err = s.p.CreateConf(ctx, req.MaxMember)
			if err == nil { // the conference's callbacks join this trace
				s.cfg.Tracer.RememberConf(ctx, confID)
			}
			return err
		})
		if err != nil {
			// Even when the answer was lost, a retry may create again: an
			// extra empty conference costs nothing and is deleted by the
			// platform after 10 minutes. (Invitations are different.)
			return nil, platformError(err), false
		}
		log := c.log.With().Str(logging.ConfID, confID).Logger()
		r := &record{V: 1, ConfID: confID, Owner: c.clientID, Created: s.now().UTC(),
			State: contract.StateWaiting, MaxMember: req.MaxMember, Members: map[string]*member{}}
		// The record must be written even if the caller gave up meanwhile:
		// the platform conference exists now.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.st.create(ctx, r); err != nil {
			log.Error().Err(err).Msg("conference created but not recorded; dismissing it")
			if derr := s.p.DismissConf(ctx, confID); derr != nil {
				log.Error().Err(derr).Msg("dismiss of unrecorded conference failed")
			}
			if unavailable(err) || errors.Is(err, context.DeadlineExceeded) {
				return nil, unavailableError(), false
			}
			return nil, contract.Errorf(contract.CodeInternal, "conference state not stored"), false
		}
		notice, _ := json.Marshal(contract.OwnedNotice{ConfID: confID})
		if err := s.nc.Publish(contract.OwnedSubjectPrefix+c.clientID, notice); err != nil {
			log.Warn().Err(err).Msg("owned notice not published")
		}
		log.Info().Int("maxmember", req.MaxMember).Msg("conference created")
		return confID, nil, false
	})
}

func (s *Service) dismissConf(c *call) (any, *contract.Error) {
	var req contract.ConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	r, e := s.loadOwned(c, req.ConfID)
	if e != nil {
		return nil, e
	}
	if r.State == contract.StateEnding {
		return nil, nil // already dismissed; the platform ends it
	}
	if err := s.platform(c, yuntongxun.CmdDismissConf, func(ctx context.Context) error { return s.p.DismissConf(ctx, req.ConfID) }); err != nil {
		return nil, s.confPlatformError(c, err)
	}
	err := s.st.update(c.ctx, req.ConfID, func(r *record) error {
		if r.State == contract.StateEnding {
			return errSkip
		}
		r.State = contract.StateEnding
		return nil
	})
	if err != nil && !errors.Is(err, errNoRecord) && !errors.Is(err, errRemove) {
		c.log.Warn().Err(err).Msg("dismissed, state not updated")
	}
	c.log.Info().Msg("conference dismissed")
	return nil, nil
}

func (s *Service) quitConf(c *call) (any, *contract.Error) {
	var req contract.CallRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	if e := checkCallID(req.CallID); e != nil {
		return nil, e
	}
	r, e := s.loadOwned(c, req.ConfID)
	if e != nil {
		return nil, e
	}
	m, err := s.member(c, r, req.CallID)
	if err != nil {
		return nil, s.internal(c, err)
	}
	if m == nil {
		// Still unknown: an invitation whose record write failed after
		// the platform dialled (its reply carried the callid in
		// error.data), or one whose event has not arrived yet. The
		// platform knows its calls: ask it to hang up; it answers
		// 110027 for a callid that is not a member of this conference.
		err := s.platform(c, yuntongxun.CmdQuitConf, func(ctx context.Context) error { return s.p.QuitConf(ctx, req.ConfID, req.CallID) })
		if isPlatformCallNotFound(err) {
			return nil, contract.Errorf(contract.CodeCallNotFound, "call %s is not in conference %s", req.CallID, req.ConfID)
		}
		if err != nil {
			return nil, s.confPlatformError(c, err)
		}
		c.log.Warn().Str(logging.CallID, req.CallID).Msg("member not in the state, removed by the platform")
		return nil, nil
	}
	if terminal(m.State) {
		return nil, nil // already out
	}
	if err := s.platform(c, yuntongxun.CmdQuitConf, func(ctx context.Context) error { return s.p.QuitConf(ctx, req.ConfID, req.CallID) }); err != nil {
		if isPlatformCallNotFound(err) {
			s.settleAbsent(c, req.ConfID, req.CallID) // member.go
			return nil, nil
		}
		return nil, s.confPlatformError(c, err)
	}
	c.log.Info().Str(logging.CallID, req.CallID).Msg("member removed")
	return nil, nil
}

// queryConfState follows GetConf's rule (owner, watch grant, operator) and
// answers from the state only: a confid this system never created is
// conf_not_found without asking the platform, so probing confids costs the
// platform account nothing and tells nothing.
func (s *Service) queryConfState(c *call) (any, *contract.Error) {
	var req contract.ConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	r, e := s.readOwned(c, req.ConfID)
	if e != nil {
		return nil, e
	}
	return contract.ConfState{State: r.State, Count: r.count()}, nil
}

func (s *Service) getConf(c *call) (any, *contract.Error) {
	var req contract.ConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	r, e := s.readOwned(c, req.ConfID)
	if e != nil {
		return nil, e
	}
	return r.getConfResult(s.loc), nil
}

func (s *Service) confMute(mute bool) handlerFunc {
	command := yuntongxun.CmdConfUnMute
	if mute {
		command = yuntongxun.CmdConfMute
	}
	return func(c *call) (any, *contract.Error) {
		var req contract.CallRequest
		if e := decode(c, &req); e != nil {
			return nil, e
		}
		if e := checkCallID(req.CallID); e != nil {
			return nil, e
		}
		r, e := s.loadOwned(c, req.ConfID)
		if e != nil {
			return nil, e
		}
		m, _ := s.member(c, r, req.CallID) // a failed leader read leaves call_not_found
		if m == nil || terminal(m.State) {
			return nil, contract.Errorf(contract.CodeCallNotFound, "call %s is not in conference %s", req.CallID, req.ConfID)
		}
		err := s.platform(c, command, func(ctx context.Context) error {
			if mute {
				return s.p.ConfMute(ctx, req.ConfID, req.CallID)
			}
			return s.p.ConfUnMute(ctx, req.ConfID, req.CallID)
		})
		if err != nil {
			return nil, s.confPlatformError(c, err)
		}
		// The platform accepted it: show it now; the media event confirms.
		_ = s.st.update(c.ctx, req.ConfID, func(r *record) error {
			m := r.Members[req.CallID]
			if m == nil || m.Muted == mute {
				return errSkip
			}
			m.Muted = mute
			return nil
		})
		return nil, nil
	}
}

func (s *Service) confRecord(start bool) handlerFunc {
	command := yuntongxun.CmdConfStopRecord
	if start {
		command = yuntongxun.CmdConfRecord
	}
	return func(c *call) (any, *contract.Error) {
		var req contract.ConfRequest
		if e := decode(c, &req); e != nil {
			return nil, e
		}
		r, e := s.loadOwned(c, req.ConfID)
		if e != nil {
			return nil, e
		}
		if r.State == contract.StateEnding {
			return nil, contract.Errorf(contract.CodeConfEnded, "conference %s is ending", req.ConfID)
		}
		err := s.platform(c, command, func(ctx context.Context) error {
			if start {
				return s.p.ConfRecord(ctx, req.ConfID)
			}
			return s.p.ConfStopRecord(ctx, req.ConfID)
		})
		if err != nil {
			return nil, s.confPlatformError(c, err)
		}
		_ = s.st.update(c.ctx, req.ConfID, func(r *record) error {
			if r.Recording == start {
				return errSkip
			}
			r.Recording = start
			return nil
		})
		return nil, nil
	}
}

func (s *Service) listOwned(c *call) (any, *contract.Error) {
	ids, err := s.st.owned(c.ctx, c.clientID)
	if err != nil {
		return nil, s.internal(c, err)
	}
	return ids, nil
}

func (s *Service) authorizeWatch(c *call) (any, *contract.Error) {
	var req contract.ConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	_, e := s.readOwned(c, req.ConfID)
	if e != nil && e.Code == contract.CodeConfNotFound {
		return s.authorizeEnded(c, req.ConfID, e)
	}
	if e != nil {
		return nil, e
	}
	return nil, nil
}
