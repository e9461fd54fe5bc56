package conference

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/yuntongxun"
)

// One function per method. Each returns the JSON-RPC result or a contract
// error; service.go turns them into replies.

// decode reads the request body strictly into v.
func decode(c *call, v any) *contract.Error {
	d := json.NewDecoder(bytes.NewReader(c.data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return contract.Errorf(contract.CodeInvalidParams, "bad request body: %v", err)
	}
	return nil
}

func checkConfID(id string) *contract.Error {
	if !contract.ValidConfID(id) {
		return contract.Errorf(contract.CodeInvalidParams, "confid: 4–8 digits expected")
	}
	return nil
}

func checkCallID(id string) *contract.Error {
	if !contract.ValidCallID(id) {
		return contract.Errorf(contract.CodeInvalidParams, "callid: 32 letters or digits expected")
	}
	return nil
}

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
	return r, s.authorize(c, r)
}

// withConf adds conf_id to the call's log fields, once.
func (c *call) withConf(confID string) {
	if c.confID == "" {
		c.confID = confID
		c.log = c.log.With().Str(logging.ConfID, confID).Logger()
	}
}

func (s *Service) internal(c *call, err error) *contract.Error {
	if unavailable(err) {
		// JetStream did not answer within the retries (a leader
		// election, a node down): retryable, not internal.
		c.log.Warn().Err(err).Msg("state unavailable")
		return unavailableError()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return contract.Errorf(contract.CodeTimeout, "deadline passed")
	}
	c.log.Error().Err(err).Msg("internal error")
	return contract.Errorf(contract.CodeInternal, "internal error")
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
		var confID string
		err := s.platform(c, yuntongxun.CmdCreateConf, func(ctx context.Context) (err error) {
			confID, err = s.p.CreateConf(ctx, req.MaxMember)
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

func (s *Service) inviteJoinConf(c *call) (any, *contract.Error) {
	var req contract.InviteJoinConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	if e := checkConfID(req.ConfID); e != nil {
		return nil, e
	}
	c.withConf(req.ConfID)
	numbers, e := s.guard.numbers(req.Number)
	if e != nil {
		if e.Code != contract.CodeInvalidParams {
			s.refuse(c, e)
		}
		return nil, e
	}
	params := req
	params.IdempotencyKey = ""
	return s.idempotent(c, req.IdempotencyKey, params, func() (any, *contract.Error, bool) {
		r, e := s.loadOwned(c, req.ConfID)
		if e != nil {
			return nil, e, false
		}
		if r.State == contract.StateEnding {
			return nil, contract.Errorf(contract.CodeConfEnded, "conference %s is ending", req.ConfID), false
		}
		if live := r.live(); live+len(numbers) > r.MaxMember {
			return nil, s.refuse(c, contract.Errorf(contract.CodeLimit, "conference has %d of %d members", live, r.MaxMember).
				WithData(map[string]int{"members": live, "maxmember": r.MaxMember})), false
		}
		if e := s.guard.allowInvite(c.ctx, c.clientID, len(numbers)); e != nil {
			return nil, s.refuse(c, e), false
		}
		return s.dial(c, req.ConfID, numbers)
	})
}

// dial invites every number (in parallel), records the invitations and
// returns the first number's call id. When some numbers fail, the others
// stay invited; the reply is the first failure only when none succeeded.
func (s *Service) dial(c *call, confID string, numbers []string) (any, *contract.Error, bool) {
	type out struct {
		callID string
		err    error
	}
	outs := make([]out, len(numbers))
	var wg sync.WaitGroup
	for i, n := range numbers {
		wg.Go(func() {
			outs[i].err = s.platform(c, yuntongxun.CmdInviteJoinConf, func(ctx context.Context) (err error) {
				outs[i].callID, err = s.p.InviteJoinConf(ctx, confID, n)
				return err
			})
		})
	}
	wg.Wait()
	now := s.now().UTC()
	first := ""
	for i, o := range outs {
		if o.err != nil {
			c.log.Warn().Err(o.err).Str("number", numbers[i]).Msg("invitation failed")
			continue
		}
		if first == "" {
			first = o.callID
		}
		c.log.Info().Str(logging.CallID, o.callID).Str("number", numbers[i]).Msg("invited")
	}
	if first == "" {
		return nil, s.confPlatformError(c, outs[0].err), ambiguous(outs[0].err)
	}
	// The invitations must be recorded before the reply says so: a
	// browser QuitConfs the callid it got, and QuitConf looks the member
	// up. The write is retried through JetStream unavailability (see
	// store.commit); the reply waits for it until shortly before the
	// caller's deadline, so that a failure, with the callids, still
	// reaches the caller. The write itself goes on in the background
	// (store.writer, up to 10 s), whether or not the caller still waits.
	ctx, cancel := replyContext(c.ctx)
	defer cancel()
	err := s.st.update(ctx, confID, func(r *record) error {
		for i, o := range outs {
			if o.err != nil {
				continue
			}
			m := r.Members[o.callID]
			if m == nil {
				// Not yet seen in an event: ringing.
				r.Members[o.callID] = &member{Number: numbers[i], State: contract.MemberRinging, Invited: now}
				continue
			}
			// An event got here first: keep its state, add what it lacks.
			if m.Number == "" {
				m.Number = numbers[i]
			}
			if m.Invited.IsZero() {
				m.Invited = now
			}
		}
		return nil
	})
	if err == nil {
		return first, nil, false
	}
	// Dialled but not recorded. Never dial again (ambiguous: an idempotent
	// retry replays this error); tell the caller the call ids, so it can
	// still hang them up (QuitConf asks the platform about a callid the
	// state does not know).
	var dialled []map[string]string
	for i, o := range outs {
		if o.err == nil {
			dialled = append(dialled, map[string]string{"number": numbers[i], "callid": o.callID})
		}
	}
	data := map[string]any{"callid": first, "dialled": dialled, "recorded": false}
	if errors.Is(err, errNoRecord) || errors.Is(err, errRemove) {
		c.log.Warn().Str(logging.CallID, first).Msg("invited, but the conference record is gone")
		return nil, contract.Errorf(contract.CodeConfEnded, "conference %s ended while inviting; call %s was dialled", confID, first).WithData(data), true
	}
	c.log.Error().Err(err).Str(logging.CallID, first).Msg("invited, but the invitation is not recorded")
	code := contract.CodeInternal
	if unavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		code = contract.CodeUnavailable
	}
	return nil, contract.Errorf(code, "call %s was dialled but the conference state could not record it; do not invite again, QuitConf it if unwanted", first).WithData(data), true
}

// recordDialled handles the replay of an invitation that was dialled but
// not recorded (its stored error carries "recorded": false and the
// dialled calls): it records the members now, and if that works the retry
// gets the first callid as its result, as the first request would have.
// Nothing is dialled. ok is false when e is not such an error or the
// members still cannot be recorded (the caller then replays e).
func (s *Service) recordDialled(c *call, e *contract.Error) (json.RawMessage, bool) {
	if c.method != contract.MethodInviteJoinConf || c.confID == "" || len(e.Data) == 0 {
		return nil, false
	}
	var d struct {
		CallID   string `json:"callid"`
		Recorded *bool  `json:"recorded"`
		Dialled  []struct {
			Number string `json:"number"`
			CallID string `json:"callid"`
		} `json:"dialled"`
	}
	if json.Unmarshal(e.Data, &d) != nil || d.Recorded == nil || *d.Recorded || d.CallID == "" || len(d.Dialled) == 0 {
		return nil, false
	}
	// Half the time left, at most 3 s: if the state is still unavailable
	// the stored error must reach the caller in time.
	wait := 3 * time.Second
	if dl, ok := c.ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	ctx, cancel := context.WithTimeout(c.ctx, wait)
	defer cancel()
	now := s.now().UTC()
	err := s.st.update(ctx, c.confID, func(r *record) error {
		changed := false
		for _, m := range d.Dialled {
			if r.Members[m.CallID] == nil {
				r.Members[m.CallID] = &member{Number: m.Number, State: contract.MemberRinging, Invited: now}
				changed = true
			}
		}
		if !changed {
			return errSkip
		}
		return nil
	})
	if err != nil {
		return nil, false
	}
	c.log.Info().Str(logging.CallID, d.CallID).Msg("idempotent replay: invitation recorded now")
	b, _ := json.Marshal(d.CallID)
	return b, true
}

// replyContext is ctx ending a little before ctx's deadline (a tenth of
// the time left, at most 500 ms), so that what is decided when it ends
// still reaches the caller in time.
func replyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/10, 500*time.Millisecond)))
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
		var se *yuntongxun.StatusError
		if errors.As(err, &se) && se.StatusCode == yuntongxun.CodeQuitFailed {
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
		return nil, s.confPlatformError(c, err)
	}
	c.log.Info().Str(logging.CallID, req.CallID).Msg("member removed")
	return nil, nil
}

// member finds callID in r, the record a handler read. A record read by a
// direct get may come from a lagging replica, so an absent member is looked
// up again on the bucket's leader before the handler believes it; the error
// is that read's, other than the record being gone.
func (s *Service) member(c *call, r *record, callID string) (*member, error) {
	if m := r.Members[callID]; m != nil {
		return m, nil
	}
	lr, _, err := s.st.getLeader(c.ctx, r.ConfID)
	if err != nil {
		if errors.Is(err, errNoRecord) {
			return nil, nil
		}
		return nil, err
	}
	return lr.Members[callID], nil
}

func (s *Service) queryConfState(c *call) (any, *contract.Error) {
	var req contract.ConfRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	if e := checkConfID(req.ConfID); e != nil {
		return nil, e
	}
	r, err := s.st.read(c.ctx, req.ConfID)
	if err == nil {
		return contract.ConfState{State: r.State, Count: r.count()}, nil
	}
	if !errors.Is(err, errNoRecord) {
		return nil, s.internal(c, err)
	}
	// No local record: ask the platform (a conference created elsewhere).
	var st contract.ConfState
	err = s.platform(c, yuntongxun.CmdQueryConfState, func(ctx context.Context) (err error) {
		st, err = s.p.QueryConfState(ctx, req.ConfID)
		return err
	})
	if isPlatformNotFound(err) {
		return nil, contract.Errorf(contract.CodeConfNotFound, "conference %s not found", req.ConfID)
	}
	if err != nil {
		return nil, platformError(err)
	}
	return st, nil
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
	return r.view(s.loc), nil
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
	if e != nil {
		return nil, e
	}
	return nil, nil
}
