package ytxsim

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Call states.
const (
	stateRinging = "ringing"
	stateJoined  = "joined"
	stateLeft    = "left"
	stateFailed  = "failed"
)

// Media notifytype and state values, as the platform's status pushes carry
// them.
const (
	notifyPlay       = 1
	notifyRecord     = 2
	notifyMute       = 4
	notifyStopPlay   = 11
	notifyStopRecord = 12
	notifyUnMute     = 14

	mediaPlaying    = 1
	mediaRecording  = 2
	mediaPlayDone   = 11
	mediaRecordDone = 12
)

// PlaySecondsPerLoop is how long one loop of a ConfPlay prompt lasts in the
// simulator (it has no audio files).
const PlaySecondsPerLoop = 5

// conf is one live conference; s.mu guards it.
type conf struct {
	id, voip    string
	maxMember   int
	created     time.Time
	action      string // CreateConf relative URLs
	joinURL     string
	quitURL     string
	delURL      string
	mediaURL    string
	autoDelete  bool
	duration    time.Duration
	calls       []*call // in invitation order
	deleteTimer *simTimer
	endTimer    *simTimer
	playTimer   *simTimer
	recTimer    *simTimer
	playing     bool
	recording   bool
	recStart    time.Time
	recN        int
}

// call is one dialled number.
type call struct {
	sid, number, orderID, confID string
	state                        string
	result                       int
	inviteURL, joinURL           string
	muted                        bool
	invited, joined, left        time.Time
	timer                        *simTimer
}

func (cf *conf) joinedCount() int {
	n := 0
	for _, c := range cf.calls {
		if c.state == stateJoined {
			n++
		}
	}
	return n
}

func (cf *conf) activeCount() int {
	n := 0
	for _, c := range cf.calls {
		if c.state == stateJoined || c.state == stateRinging {
			n++
		}
	}
	return n
}

func (cf *conf) find(callSid string) *call {
	for _, c := range cf.calls {
		if c.sid == callSid {
			return c
		}
	}
	return nil
}

func (cf *conf) snapshot() ConfSnapshot {
	sn := ConfSnapshot{
		ConfID: cf.id, VoipToConfID: cf.voip, MaxMember: cf.maxMember, Created: cf.created,
		State: 1, Count: cf.joinedCount(), Recording: cf.recording, Playing: cf.playing,
		Members: make([]MemberSnapshot, 0, len(cf.calls)),
	}
	for _, c := range cf.calls {
		sn.Members = append(sn.Members, MemberSnapshot{
			CallSid: c.sid, Number: c.number, State: c.state, Result: c.result, Muted: c.muted,
			Invited: c.invited, Joined: c.joined, Left: c.left,
		})
	}
	return sn
}

func sortSnapshots(s []ConfSnapshot) {
	sort.Slice(s, func(i, j int) bool {
		if !s[i].Created.Equal(s[j].Created) {
			return s[i].Created.Before(s[j].Created)
		}
		return s[i].ConfID < s[j].ConfID
	})
}

// newConfID returns an unused 8-digit confid (every example the platform
// publishes has 8 digits); s.mu is held.
func (s *Sim) newConfID() string {
	for {
		id := strconv.Itoa(10000000 + s.rng.IntN(90000000))
		if !s.usedConf[id] {
			s.usedConf[id] = true
			return id
		}
	}
}

// newCallSid returns a 32-character id shaped like the examples
// (yyMMddHHmmss, then digits, then hex); s.mu is held.
func (s *Sim) newCallSid() string {
	s.seq++
	return s.now().Format("060102150405") + fmt.Sprintf("%04d%016x", s.seq%10000, s.rng.Uint64())
}

// createConf makes a conference; s.mu is held.
func (s *Sim) createConf(maxMember int, a attrs) *conf {
	now := s.now()
	cf := &conf{
		id: s.newConfID(), maxMember: maxMember, created: now,
		action: a["action"], joinURL: a["joinurl"], quitURL: a["quiturl"],
		delURL: a["delreporturl"], mediaURL: a["mediaopturl"],
		autoDelete: a["autodelete"] != "false",
	}
	cf.voip = strconv.Itoa(80000000 + s.rng.IntN(10000000))
	if d, err := strconv.Atoi(a["confduration"]); err == nil && d > 0 {
		cf.duration = time.Duration(d) * time.Second
	}
	s.confs[cf.id] = cf
	// created comes first in the conference's callback queue, before any
	// other of its callbacks can be queued.
	s.notify(cf.id, cf.action, "created", kv{"confid", cf.id}, kv{"callSid", ""}, kv{"createtime", s.stamp(now)})
	if cf.autoDelete {
		// The platform deletes a conference nobody joins within
		// AutoDeleteAfter.
		cf.deleteTimer = s.after(s.cfg.AutoDeleteAfter, func() {
			if s.confs[cf.id] == cf && cf.joinedCount() == 0 {
				s.log.Info().Str("conf_id", cf.id).Msg("nobody joined in time: deleting")
				s.endConf(cf, "", "", false)
			}
		})
	}
	s.log.Info().Str("conf_id", cf.id).Int("maxmember", maxMember).Msg("conference created")
	return cf
}

// invite dials number into cf; s.mu is held.
func (s *Sim) invite(cf *conf, number, inviteURL, joinURL string) *call {
	now := s.now()
	cl := &call{
		sid: s.newCallSid(), number: number, confID: cf.id, state: stateRinging,
		inviteURL: inviteURL, joinURL: joinURL, invited: now,
	}
	cl.orderID = fmt.Sprintf("CM%s%06d", now.Format("20060102150405"), s.seq%1000000)
	cf.calls = append(cf.calls, cl)
	s.calls[cl.sid] = cl
	s.callLog = trimLog(append(s.callLog, CallRecord{ConfID: cf.id, Number: number, CallSid: cl.sid, OrderID: cl.orderID, Time: now}), s.cfg.LogLimit)
	p := planFor(s.rules, number)
	s.log.Info().Str("conf_id", cf.id).Str("call_id", cl.sid).Str("number", number).
		Str("outcome", string(p.outcome)).Dur("delay", p.delay).Msg("dialling")
	cl.timer = s.after(p.delay, func() {
		if cl.state != stateRinging || s.confs[cf.id] != cf {
			return
		}
		switch p.outcome {
		case OutcomeAnswer:
			s.answer(cf, cl, p.hangupAfter)
		case OutcomeBusy:
			s.fail(cf, cl, ResultBusy)
		case OutcomeNoAnswer:
			s.fail(cf, cl, ResultNoAnswer)
		case OutcomeInvalid:
			s.fail(cf, cl, ResultInvalidNumber)
		}
	})
	return cl
}

// answer joins a ringing call: the invitation's result (action), then the
// joined notification (the invitation's joinurl, else the conference's).
func (s *Sim) answer(cf *conf, cl *call, hangupAfter time.Duration) {
	now := s.now()
	cl.state, cl.joined, cl.result = stateJoined, now, ResultJoined
	cl.timer = nil
	t := s.stamp(now)
	s.notify(cf.id, cl.inviteURL, "invite", s.inviteFields(cf, cl, "0", t)...)
	join := cl.joinURL
	if join == "" {
		join = cf.joinURL
	}
	s.notify(cf.id, join, "joined",
		kv{"confid", cf.id}, kv{"callSid", cl.sid}, kv{"number", cl.number}, kv{"result", "0"}, kv{"jointime", t})
	if cf.duration > 0 && cf.endTimer == nil {
		// The platform counts confduration from the first join.
		cf.endTimer = s.after(cf.duration, func() {
			if s.confs[cf.id] == cf {
				s.endConf(cf, "", "", false)
			}
		})
	}
	if hangupAfter > 0 {
		cl.timer = s.after(hangupAfter, func() {
			if cl.state == stateJoined && s.confs[cf.id] == cf {
				s.leave(cf, cl, "")
			}
		})
	}
}

// fail ends a ringing call with a failure result.
func (s *Sim) fail(cf *conf, cl *call, result int) {
	now := s.now()
	s.stop(cl.timer)
	cl.timer = nil
	cl.state, cl.result, cl.left = stateFailed, result, now
	s.notify(cf.id, cl.inviteURL, "invite", s.inviteFields(cf, cl, strconv.Itoa(result), s.stamp(now))...)
}

// inviteFields are the fields of an invitation-result notification;
// without "result" when Config.InviteWithoutResult.
func (s *Sim) inviteFields(cf *conf, cl *call, result, t string) []kv {
	f := []kv{{"confid", cf.id}, {"callSid", cl.sid}, {"number", cl.number}}
	if !s.cfg.InviteWithoutResult {
		f = append(f, kv{"result", result})
	}
	return append(f, kv{"jointime", t})
}

// leave makes a joined member quit, with a quit notification to url (or the
// conference's quiturl); when it was the last member, the conference is
// deleted.
func (s *Sim) leave(cf *conf, cl *call, url string) {
	s.quit(cf, cl, url)
	if cf.joinedCount() == 0 && cf.autoDelete {
		// "When a conference goes from having members to having none, it is
		// deleted automatically", says the platform's documentation.
		s.endConf(cf, "", "", false)
	}
}

// quit records a member leaving and notifies, without deleting.
func (s *Sim) quit(cf *conf, cl *call, url string) {
	now := s.now()
	s.stop(cl.timer)
	cl.timer = nil
	cl.state, cl.left = stateLeft, now
	if url == "" {
		url = cf.quitURL
	}
	t := s.stamp(now)
	// jointime carries the quit time: the name the original protocol
	// gave this field, which existing receivers read.
	s.notify(cf.id, url, "quit",
		kv{"confid", cf.id}, kv{"callSid", cl.sid}, kv{"number", cl.number}, kv{"jointime", t}, kv{"quittime", t})
}

// endConf ends cf: members quit (to quitURL, or the conference's quiturl;
// none when noQuit), ringing invitations are cancelled, then the deleted
// notification goes to delURL or the conference's delreporturl.
func (s *Sim) endConf(cf *conf, quitURL, delURL string, noQuit bool) {
	for _, cl := range cf.calls {
		switch cl.state {
		case stateJoined:
			if noQuit {
				s.stop(cl.timer)
				cl.timer = nil
				cl.state, cl.left = stateLeft, s.now()
			} else {
				s.quit(cf, cl, quitURL)
			}
		case stateRinging:
			s.fail(cf, cl, ResultCancelled)
		}
	}
	for _, t := range []*simTimer{cf.deleteTimer, cf.endTimer, cf.playTimer, cf.recTimer} {
		s.stop(t)
	}
	if delURL == "" {
		delURL = cf.delURL
	}
	s.notify(cf.id, delURL, "deleted", kv{"confid", cf.id}, kv{"deltime", s.stamp(s.now())})
	delete(s.confs, cf.id)
	for _, cl := range cf.calls {
		delete(s.calls, cl.sid) // Hangup of a call of an ended conference fails anyway
	}
	s.log.Info().Str("conf_id", cf.id).Msg("conference deleted")
}

// media sends a media-operation notification to url (the command's
// action, else the conference's mediaopturl).
func (s *Sim) media(cf *conf, url, callSid string, notifyType, state int, extra ...kv) {
	if url == "" {
		url = cf.mediaURL
	}
	f := []kv{{"confid", cf.id}}
	if callSid != "" {
		f = append(f, kv{"callSid", callSid})
	}
	f = append(f, kv{"notifytype", strconv.Itoa(notifyType)}, kv{"result", "0"})
	if state != 0 {
		f = append(f, kv{"state", strconv.Itoa(state)})
	}
	f = append(f, extra...)
	s.notify(cf.id, url, "media", f...)
}
