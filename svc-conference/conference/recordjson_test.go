package conference

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// marshalRecord writes the bytes encoding/json writes for every record
// (strings without <, > and &, which encoding/json alone escapes), and
// for any strings a document that decodes to the same record.
func TestMarshalRecordMatchesJSON(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed) // printed with a failure: the same records again
	rng := rand.New(rand.NewPCG(1, seed))
	plain := []string{"", "12345678", "alice", "13800138000", "20261128120000", contractStates[0], "中文", "tab\there", `q"uote`, `back\slash`, "nl\n", "\x01ctl", "\u2028sep", "é"}
	odd := append(plain, "<b>&", "bad\xffutf8")
	pick := func(set []string) string { return set[rng.IntN(len(set))] }
	when := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		t := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9))
		if rng.IntN(3) == 0 {
			t = t.In(time.FixedZone("CST", 8*3600))
		}
		return t.Round(time.Duration(rng.IntN(2)) * time.Second)
	}
	gen := func(set []string) *record {
		r := &record{V: 1, ConfID: pick(set), Owner: pick(set), Created: when(), State: rng.IntN(3), MaxMember: rng.IntN(300),
			Recording: rng.IntN(2) == 0, LastSeq: rng.Uint64N(1 << 40), MediaSeq: rng.Uint64N(3), Ended: pick(set)}
		if rng.IntN(3) == 0 {
			r.Finished = when()
		}
		if rng.IntN(8) != 0 {
			r.Members = map[string]*member{}
			for range rng.IntN(6) {
				r.Members[pick(set)+fmt.Sprint(rng.IntN(1000))] = &member{Number: pick(set), State: pick(contractStates),
					Result: rng.IntN(3) * 100, Muted: rng.IntN(2) == 0, Invited: when(), Joined: pick(set), Left: pick(set), MediaSeq: rng.Uint64N(3)}
			}
		}
		return r
	}
	for i := range 2000 {
		set := plain
		if i%2 == 1 {
			set = odd
		}
		r := gen(set)
		got, err := marshalRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 && string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		var a, b record
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("record %d: %v in %s", i, err, got)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("record %d decodes differently:\n got %s\nwant %s", i, got, want)
		}
	}
	// A time encoding/json refuses is refused alike.
	_, err := marshalRecord(&record{Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.Contains(err.Error(), "year") {
		t.Errorf("year 10000: err = %v", err)
	}
}

var contractStates = []string{"invited", "ringing", "joined", "failed", "left"}
