package conference

import (
	"errors"
	"sort"
	"time"

	"confapplet/pkg/contract"
)

// record is one conference as stored in ConfBucket. Its JSON is the format
// documented in CONFIG.md.
type record struct {
	V         int                `json:"v"` // format version, 1
	ConfID    string             `json:"confid"`
	Owner     string             `json:"owner"`
	Created   time.Time          `json:"created"`
	State     int                `json:"state"` // contract.StateWaiting/Active/Ending
	MaxMember int                `json:"maxmember"`
	Recording bool               `json:"recording,omitempty"`
	LastSeq   uint64             `json:"seq"`                 // highest event seq applied
	MediaSeq  uint64             `json:"media_seq,omitempty"` // seq of the last recording event applied
	Members   map[string]*member `json:"members"`             // callid → member
	// Ended is the platform's deletion time (yyyyMMddHHmmss), Finished when
	// this service archived the record (finished.go); both only in
	// FinishedBucket.
	Ended    string    `json:"deltime,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
}

// member is one call of a conference.
type member struct {
	Number   string    `json:"number"`
	State    string    `json:"state"` // contract.Member*: member.go
	Result   int       `json:"result,omitempty"`
	Muted    bool      `json:"muted,omitempty"`
	Invited  time.Time `json:"invited,omitzero"`
	Joined   string    `json:"jointime,omitempty"` // platform time, yyyyMMddHHmmss
	Left     string    `json:"quittime,omitempty"`
	MediaSeq uint64    `json:"media_seq,omitempty"` // seq of the last mute/unmute event applied
}

// live counts members that are invited, ringing or joined.
func (r *record) live() int {
	n := 0
	for _, m := range r.Members {
		if !terminal(m.State) {
			n++
		}
	}
	return n
}

// count is the number of members in the conference now (joined).
func (r *record) count() int {
	n := 0
	for _, m := range r.Members {
		if m.State == contract.MemberJoined {
			n++
		}
	}
	return n
}

// getConfResult is the GetConf result of r, members ordered by invitation
// time.
func (r *record) getConfResult(loc *time.Location) contract.Conference {
	c := contract.Conference{
		ConfID: r.ConfID, Owner: r.Owner, State: r.State, Count: r.count(),
		MaxMember: r.MaxMember, Created: r.Created.In(loc).Format(contract.TimeLayout),
		Recording: r.Recording, LastSeq: r.LastSeq, Members: []contract.Member{},
	}
	for id, m := range r.Members {
		cm := contract.Member{CallID: id, Number: m.Number, State: m.State, Result: m.Result,
			Muted: m.Muted, Joined: m.Joined, Left: m.Left}
		if !m.Invited.IsZero() {
			cm.Invited = m.Invited.In(loc).Format(contract.TimeLayout)
		}
		c.Members = append(c.Members, cm)
	}
	sort.Slice(c.Members, func(i, j int) bool {
		a, b := c.Members[i], c.Members[j]
		if a.Invited != b.Invited {
			return a.Invited < b.Invited
		}
		return a.CallID < b.CallID
	})
	return c
}

// clone copies r deeply enough for an update function to change the copy.
func (r *record) clone() *record {
	c := *r
	c.Members = make(map[string]*member, len(r.Members))
	for id, m := range r.Members {
		mc := *m
		c.Members[id] = &mc
	}
	return &c
}

var errNoRecord = errors.New("no conference record")
