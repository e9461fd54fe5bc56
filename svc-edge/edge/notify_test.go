package edge

import (
	"encoding/json"
	"reflect"
	"testing"

	"confapplet/pkg/contract"
)

// TestAppendNotificationMatchesContract: for every kind of event, with and
// without its optional fields and with strings that need escaping, the
// edge's encoder makes the JSON of contract.Event.Notification.
func TestAppendNotificationMatchesContract(t *testing.T) {
	zero, one, busy := 0, 1, 3
	odd := "a\"b\\c\n<&>\u2028\xff中"
	var evs []contract.Event
	for _, kind := range []string{contract.KindCreated, contract.KindInvite, contract.KindJoined, contract.KindQuit,
		contract.KindDeleted, contract.KindDismissed, "mediaopt"} {
		for _, r := range []*int{nil, &zero, &one} {
			for _, s := range []string{"20261128103000", odd} {
				evs = append(evs, contract.Event{Kind: kind, ConfID: "30040060", CallID: "c" + s, Number: "138" + s,
					Result: r, Status: r, Time: s, Seq: 7, Media: map[string]string{"notifytype": "4", "confid": "x"}})
			}
		}
	}
	evs = append(evs, contract.Event{Kind: contract.KindDismissed, ConfID: "1", Seq: 1, Status: &busy})
	for _, e := range evs {
		method, params := e.Notification()
		p, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		var want, got map[string]any
		if err := json.Unmarshal([]byte(`{"jsonrpc":"2.0","method":"`+method+`","params":`+string(p)+`}`), &want); err != nil {
			t.Fatal(err)
		}
		b, err := appendNotification(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", e.Kind, err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s (result %v): got %s\nwant %v", e.Kind, e.Result, b, want)
		}
	}
}
