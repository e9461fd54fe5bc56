package conference

import (
	"context"
	"errors"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
)

// A member's state moves only on evidence, and only forward:
//
//	invited ──invite/joined, no result──▶ ringing
//	invited|ringing ──invite/joined, result 0──▶ joined
//	invited|ringing ──invite/joined, result ≠ 0──▶ failed
//	invited|ringing|joined ──quit──▶ left
//
// failed and left are final. The rank makes every transition idempotent and
// order-independent: a duplicate changes nothing, a late invite result
// cannot undo a quit, and a result-less callback never makes anyone joined
// (an invite-result notification may carry no result at all, and treating
// that as success would show busy or unanswered calls as joined).

// memberRank orders the states; a transition only ever raises it.
var memberRank = map[string]int{
	contract.MemberInvited: 0,
	contract.MemberRinging: 1,
	contract.MemberJoined:  2,
	contract.MemberFailed:  3,
	contract.MemberLeft:    3,
}

// terminal reports whether a member state never changes again.
func terminal(state string) bool {
	return state == contract.MemberLeft || state == contract.MemberFailed
}

// applyOutcome applies an invite or joined callback with result r (nil:
// the callback carried none) and the platform time t. It reports whether m
// changed.
func (m *member) applyOutcome(r *int, t string) bool {
	changed := false
	switch contract.InviteOutcome(r) {
	case contract.OutcomeJoined:
		// The join time is kept even when the quit overtook the join.
		if m.Joined == "" && t != "" {
			m.Joined, changed = t, true
		}
		changed = m.moveTo(contract.MemberJoined) || changed
	case contract.OutcomeFailed:
		// A failure report after a success is stale or contradictory:
		// the member was in the conference, and only a quit ends that.
		if m.State != contract.MemberJoined && m.moveTo(contract.MemberFailed) {
			m.Result, changed = *r, true
		}
	default:
		changed = m.moveTo(contract.MemberRinging)
	}
	return changed
}

// applyQuit applies a quit callback at platform time t.
func (m *member) applyQuit(t string) bool {
	changed := m.moveTo(contract.MemberLeft)
	if m.State == contract.MemberLeft && m.Left == "" && t != "" {
		m.Left, changed = t, true
	}
	return changed
}

// moveTo moves m to state if that is forward and m is not final.
func (m *member) moveTo(state string) bool {
	if terminal(m.State) || memberRank[state] <= memberRank[m.State] {
		return false
	}
	m.State = state
	return true
}

// settleAbsent records the platform's word that callID is not (any more) in
// confID: QuitConf of a member the state still holds as invited, ringing or
// joined was answered "call not found". That is evidence the member is out,
// and the only way to settle an invitation whose outcome never arrived (an
// invite result without "result" and no join notification): it would hold
// a place under maxmember for the conference's lifetime. The member becomes
// left, as after its quit callback.
func (s *Service) settleAbsent(c *call, confID, callID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
	defer cancel()
	err := s.st.update(ctx, confID, func(r *record) error {
		if m := r.Members[callID]; m != nil && m.applyQuit("") {
			return nil
		}
		return errSkip
	})
	if err != nil && !errors.Is(err, errSkip) && !errors.Is(err, errNoRecord) {
		c.log.Error().Err(err).Str(logging.CallID, callID).Msg("member the platform does not have not marked as left")
		return
	}
	c.log.Info().Str(logging.CallID, callID).Msg("platform does not have the call; member marked as left")
}
