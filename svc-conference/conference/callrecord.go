package conference

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/pii"
)

// callRecord is one call of a finished conference, as `svc-conference
// records` exports it: one line of JSON, or one CSV row, per call (a
// conference nobody was invited to has one without call fields). Times are
// RFC 3339 in the platform's time zone; the platform's own (answer,
// hang-up, end) have its one-second resolution.
type callRecord struct {
	ConfID   string `json:"confid"`
	Owner    string `json:"owner"`
	Created  string `json:"created"`
	Ended    string `json:"ended"`
	CallID   string `json:"callid,omitempty"`
	Number   string `json:"number,omitempty"`
	Invited  string `json:"invited,omitempty"`
	Answered string `json:"answered,omitempty"`
	HungUp   string `json:"hungup,omitempty"`
	// Outcome: answered (the call joined), failed (Result is the
	// platform's code), no_result (the platform never reported one).
	Outcome string `json:"outcome,omitempty"`
	Result  *int   `json:"result,omitempty"`
	// Seconds from answer to hang-up, or to the conference's end when no
	// hang-up was reported; 0 for a call never answered.
	Duration int64 `json:"duration_s"`
}

// Call outcomes of a record.
const (
	outcomeAnswered = "answered"
	outcomeFailed   = "failed"
	outcomeNoResult = "no_result"
)

var callRecordHeader = []string{"confid", "owner", "created", "ended", "callid", "number", "invited",
	"answered", "hungup", "outcome", "result", "duration_s"}

func (c callRecord) row() []string {
	result := ""
	if c.Result != nil {
		result = strconv.Itoa(*c.Result)
	}
	return []string{c.ConfID, c.Owner, c.Created, c.Ended, c.CallID, c.Number, c.Invited,
		c.Answered, c.HungUp, c.Outcome, result, strconv.FormatInt(c.Duration, 10)}
}

// endedAt is when r ended: the platform's deletion time, else when it was
// archived.
func (r *record) endedAt(loc *time.Location) time.Time {
	if t, err := time.ParseInLocation(contract.TimeLayout, r.Ended, loc); err == nil {
		return t
	}
	return r.Finished
}

// callRecords are r's calls, in invitation order; numbers masked unless
// fullNumbers.
func (r *record) callRecords(loc *time.Location, fullNumbers bool) []callRecord {
	ended := r.endedAt(loc)
	base := callRecord{ConfID: r.ConfID, Owner: r.Owner, Created: stamp(r.Created, loc), Ended: stamp(ended, loc)}
	if len(r.Members) == 0 {
		return []callRecord{base}
	}
	ids := make([]string, 0, len(r.Members))
	for id := range r.Members {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := r.Members[ids[i]], r.Members[ids[j]]
		if !a.Invited.Equal(b.Invited) {
			return a.Invited.Before(b.Invited)
		}
		return ids[i] < ids[j]
	})
	out := make([]callRecord, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.Members[id].callRecord(base, id, ended, loc, fullNumbers))
	}
	return out
}

// callRecord is m's row; ended is its conference's end.
func (m *member) callRecord(base callRecord, callID string, ended time.Time, loc *time.Location, fullNumbers bool) callRecord {
	c := base
	c.CallID, c.Number, c.Invited = callID, m.Number, stamp(m.Invited, loc)
	if !fullNumbers {
		c.Number = pii.Number(m.Number)
	}
	answered, okA := platformTime(m.Joined, loc)
	hungUp, okH := platformTime(m.Left, loc)
	switch {
	case m.State == contract.MemberFailed:
		result := m.Result
		c.Outcome, c.Result = outcomeFailed, &result
		c.HungUp = stamp(hungUp, loc)
	case okA || m.State == contract.MemberJoined:
		zero := 0
		c.Outcome, c.Result = outcomeAnswered, &zero
		c.Answered, c.HungUp = stamp(answered, loc), stamp(hungUp, loc)
		end := hungUp
		if !okH {
			end = ended
		}
		if okA && end.After(answered) {
			c.Duration = int64(end.Sub(answered) / time.Second)
		}
	default:
		c.Outcome = outcomeNoResult
	}
	return c
}

func platformTime(s string, loc *time.Location) (time.Time, bool) {
	t, err := time.ParseInLocation(contract.TimeLayout, s, loc)
	return t, err == nil
}

// stamp is t in RFC 3339 in loc; "" for the zero time.
func stamp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(time.RFC3339)
}

// writeCallRecords writes recs as JSON lines or CSV (with a header row).
func writeCallRecords(w io.Writer, format string, recs []callRecord) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		for _, c := range recs {
			if err := enc.Encode(c); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(callRecordHeader); err != nil {
			return err
		}
		for _, c := range recs {
			if err := cw.Write(c.row()); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		return fmt.Errorf("format %q: want jsonl or csv", format)
	}
}
