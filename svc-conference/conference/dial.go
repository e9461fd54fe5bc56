package conference

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/yuntongxun"
)

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
		if e, limit := s.budget.allowCalls(c.ctx, c.source, len(numbers)); e != nil {
			return nil, s.refuseBudget(c, e, limit), false
		}
		if e := s.guard.allowInvite(c.ctx, c.clientID, len(numbers)); e != nil {
			s.budget.refundCalls(c.source, len(numbers))
			return nil, s.refuse(c, e), false
		}
		defer s.budget.release(len(numbers))
		return s.dial(c, req.ConfID, numbers)
	})
}

// dial invites every number (in parallel), records the invitations and
// returns the first number's call id. When some numbers fail, the others
// stay invited; the reply is the first failure only when none succeeded.
func (s *Service) dial(c *call, confID string, numbers []string) (any, *contract.Error, bool) {
	outs := s.inviteAll(c, confID, numbers)
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
		recordInvited(r, numbers, outs, now)
		return nil
	})
	if err == nil {
		return first, nil, false
	}
	return nil, notRecorded(c, confID, first, numbers, outs, err), true
}

// invitation is the outcome of inviting one number.
type invitation struct {
	callID string
	err    error
}

// inviteAll invites every number at once; the outcomes are in the order
// of numbers.
func (s *Service) inviteAll(c *call, confID string, numbers []string) []invitation {
	outs := make([]invitation, len(numbers))
	var wg sync.WaitGroup
	for i, n := range numbers {
		wg.Go(func() {
			outs[i].err = s.platform(c, yuntongxun.CmdInviteJoinConf, func(ctx context.Context) (err error) {
				outs[i].callID, err = s.p.InviteJoinConf(ctx, confID, n)
				if err == nil { // the call's callbacks join this trace
					s.cfg.Tracer.RememberCall(ctx, outs[i].callID)
				}
				return err
			})
		})
	}
	wg.Wait()
	return outs
}

// recordInvited adds the calls dialled to r: ringing, unless an event
// got here first, whose state is kept (only what it lacks is added).
func recordInvited(r *record, numbers []string, outs []invitation, now time.Time) {
	for i, o := range outs {
		if o.err != nil {
			continue
		}
		m := r.Members[o.callID]
		if m == nil {
			r.Members[o.callID] = &member{Number: numbers[i], State: contract.MemberInvited, Invited: now}
			continue
		}
		if m.Number == "" {
			m.Number = numbers[i]
		}
		if m.Invited.IsZero() {
			m.Invited = now
		}
	}
}

// notRecorded is the error of calls dialled but not recorded (err). The
// caller must never dial again (ambiguous: an idempotent retry replays
// this error), so it is told the call ids, to hang them up if it wants
// (QuitConf asks the platform about a callid the state does not know).
func notRecorded(c *call, confID, first string, numbers []string, outs []invitation, err error) *contract.Error {
	var dialled []map[string]string
	for i, o := range outs {
		if o.err == nil {
			dialled = append(dialled, map[string]string{"number": numbers[i], "callid": o.callID})
		}
	}
	data := map[string]any{"callid": first, "dialled": dialled, "recorded": false}
	if errors.Is(err, errNoRecord) || errors.Is(err, errRemove) {
		c.log.Warn().Str(logging.CallID, first).Msg("invited, but the conference record is gone")
		return contract.Errorf(contract.CodeConfEnded, "conference %s ended while inviting; call %s was dialled", confID, first).WithData(data)
	}
	c.log.Error().Err(err).Str(logging.CallID, first).Msg("invited, but the invitation is not recorded")
	code := contract.CodeInternal
	if unavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		code = contract.CodeUnavailable
	}
	return contract.Errorf(code, "call %s was dialled but the conference state could not record it; do not invite again, QuitConf it if unwanted", first).WithData(data)
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
				r.Members[m.CallID] = &member{Number: m.Number, State: contract.MemberInvited, Invited: now}
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
