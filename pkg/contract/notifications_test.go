package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNotificationParamsMatchEvents: the params Event.Notification sends
// for every kind of event decode into NotificationTable's type for that
// method without unknown fields, and carry every field the type does not
// mark omitempty, so the types generated clients are built from cannot
// drift from what the edge sends.
func TestNotificationParamsMatchEvents(t *testing.T) {
	specs := map[string]NotificationSpec{}
	for _, s := range NotificationTable {
		specs[s.Name] = s
	}
	zero, one := 0, 1
	for _, kind := range CallbackKinds {
		for _, result := range []*int{nil, &zero, &one} {
			ev := Event{Kind: kind, ConfID: "1234", CallID: strings.Repeat("c", 32), Number: "13912345678",
				Result: result, Status: result, Time: "20261128153000", Received: time.Now(), Seq: 7,
				Media: map[string]string{"notifytype": "12", "state": "12", "recordurl": "u", "recordduration": "3"}}
			method, params := ev.Notification()
			spec, ok := specs[method]
			if !ok || !spec.Event {
				t.Fatalf("%s: %s is not an event notification of NotificationTable", kind, method)
			}
			b, _ := json.Marshal(params)
			checkDecodes(t, method, b, spec)
		}
	}
	// The edge's own notices.
	checkDecodes(t, NotifyWatch, []byte(`{"confid":"1234","seq":3}`), specs[NotifyWatch])
	checkDecodes(t, NotifyEventsLost, []byte(`{"confid":"1234","from":3,"to":41}`), specs[NotifyEventsLost])
	if len(specs) != len(NotificationTable) {
		t.Error("a notification twice in NotificationTable")
	}
}

func checkDecodes(t *testing.T, method string, b []byte, spec NotificationSpec) {
	t.Helper()
	typ := reflect.TypeOf(spec.Params)
	v := reflect.New(typ).Interface()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s %s does not decode into %s: %v", method, b, typ, err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	for i := 0; i < typ.NumField(); i++ {
		tag := typ.Field(i).Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if _, present := got[name]; !present && !strings.Contains(opts, "omitempty") {
			t.Errorf("%s %s lacks %q, which %s requires", method, b, name, typ)
		}
	}
}

// TestResultsCoverEveryMethod: every method a browser may call has a
// result type, and only those.
func TestResultsCoverEveryMethod(t *testing.T) {
	for name := range Methods {
		if _, ok := Results[name]; !ok {
			t.Errorf("%s has no entry in Results", name)
		}
	}
	for name := range Results {
		if _, ok := Methods[name]; !ok {
			t.Errorf("Results names %s, which browsers cannot call", name)
		}
	}
	for code := range ErrorData {
		if Spec(code).Code != code {
			t.Errorf("ErrorData names %s, which is not in Table", code)
		}
	}
}
