package conference

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"confapplet/pkg/jsonrpc"
)

// marshalRecord is json.Marshal(r) written field by field: every event
// rewrites its conference's record, and reflection over the record and
// its members was a tenth of the service's CPU at 1,000 events/s. The
// document is the same one (CONFIG.md), keys in the same order, members
// sorted by callid as encoding/json sorts map keys; strings are escaped as
// JSON requires, without encoding/json's extra escaping of <, > and &.
// TestMarshalRecordMatchesJSON holds it to encoding/json.
func marshalRecord(r *record) ([]byte, error) {
	if !encodableTime(r.Created) || !encodableTime(r.Finished) {
		return json.Marshal(r) // and its error
	}
	for _, m := range r.Members {
		if m != nil && !encodableTime(m.Invited) {
			return json.Marshal(r)
		}
	}
	b := make([]byte, 0, 256+160*len(r.Members))
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"confid":`...)
	b = jsonrpc.AppendString(b, r.ConfID)
	b = append(b, `,"owner":`...)
	b = jsonrpc.AppendString(b, r.Owner)
	b = append(b, `,"created":`...)
	b = appendTime(b, r.Created)
	b = append(b, `,"state":`...)
	b = strconv.AppendInt(b, int64(r.State), 10)
	b = append(b, `,"maxmember":`...)
	b = strconv.AppendInt(b, int64(r.MaxMember), 10)
	if r.Recording {
		b = append(b, `,"recording":true`...)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.LastSeq, 10)
	if r.MediaSeq != 0 {
		b = append(b, `,"media_seq":`...)
		b = strconv.AppendUint(b, r.MediaSeq, 10)
	}
	b = append(b, `,"members":`...)
	if r.Members == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, id := range slices.Sorted(maps.Keys(r.Members)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonrpc.AppendString(b, id)
			b = append(b, ':')
			b = appendMember(b, r.Members[id])
		}
		b = append(b, '}')
	}
	if r.Ended != "" {
		b = append(b, `,"deltime":`...)
		b = jsonrpc.AppendString(b, r.Ended)
	}
	if !r.Finished.IsZero() {
		b = append(b, `,"finished":`...)
		b = appendTime(b, r.Finished)
	}
	return append(b, '}'), nil
}

func appendMember(b []byte, m *member) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"number":`...)
	b = jsonrpc.AppendString(b, m.Number)
	b = append(b, `,"state":`...)
	b = jsonrpc.AppendString(b, m.State)
	if m.Result != 0 {
		b = append(b, `,"result":`...)
		b = strconv.AppendInt(b, int64(m.Result), 10)
	}
	if m.Muted {
		b = append(b, `,"muted":true`...)
	}
	if !m.Invited.IsZero() {
		b = append(b, `,"invited":`...)
		b = appendTime(b, m.Invited)
	}
	if m.Joined != "" {
		b = append(b, `,"jointime":`...)
		b = jsonrpc.AppendString(b, m.Joined)
	}
	if m.Left != "" {
		b = append(b, `,"quittime":`...)
		b = jsonrpc.AppendString(b, m.Left)
	}
	if m.MediaSeq != 0 {
		b = append(b, `,"media_seq":`...)
		b = strconv.AppendUint(b, m.MediaSeq, 10)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); encodableTime(t) must hold.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// encodableTime reports whether t's MarshalJSON succeeds: a four-digit
// year, and a zone offset within a day.
func encodableTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off > -24*3600 && off < 24*3600
}
