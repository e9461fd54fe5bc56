package callback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/contract"
)

// fields is one parsed callback body: lower-cased field names → trimmed
// values. "callsid" is stored as "callid".
type fields map[string]string

// errBadBody wraps every reason a body is not understood: the body is kept
// raw, marked not understood and answered 200 (a refusal would only make
// the platform retry it).
var errBadBody = errors.New("callback body not understood")

func badBody(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadBody, fmt.Sprintf(format, a...))
}

// parseBody understands the three encodings the platform (or its documented
// variants) uses, whatever the Content-Type says:
//   - XML with any root element ("request" in the one verified push; the
//     platform sends text/plain; application/xml works the same);
//   - a JSON object, optionally wrapped in one object of any name
//     ({"request": {...}});
//   - a form-encoded body (a=1&b=2).
//
// The first non-blank byte decides: '<' is XML, '{' is JSON, anything else
// is a form. Field names are case-insensitive.
func parseBody(body []byte) (fields, error) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badBody("empty body")
	}
	switch trimmed[0] {
	case '<':
		return parseXML(trimmed)
	case '{':
		return parseJSON(trimmed)
	default:
		return parseForm(trimmed)
	}
}

func (f fields) set(name, value string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "callsid" {
		name = "callid"
	}
	value = strings.TrimSpace(value)
	if old, ok := f[name]; ok && old != value {
		return badBody("field %q given twice with different values", name)
	}
	f[name] = value
	return nil
}

func parseXML(body []byte) (fields, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	// The fields we read are ASCII; a declared charset other than UTF-8 is
	// passed through unchanged, and invalid UTF-8 still fails the parse.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	f := fields{}
	depth := 0
	rootSeen, rootDone := false, false
	var cur string // field being read (depth 2), "" if none
	var text strings.Builder
	skip := false // the current child has nested elements: not a field
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badBody("xml: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if rootDone || rootSeen {
					return nil, badBody("xml: more than one root element")
				}
				rootSeen = true
			case depth == 2:
				cur, skip = t.Name.Local, false
				text.Reset()
			default:
				skip = true
			}
		case xml.EndElement:
			if depth == 2 && !skip {
				if err := f.set(cur, text.String()); err != nil {
					return nil, err
				}
			}
			if depth == 1 {
				rootDone = true
			}
			depth--
		case xml.CharData:
			switch {
			case depth == 2:
				text.Write(t)
			case depth == 0 && len(bytes.TrimSpace(t)) > 0:
				return nil, badBody("xml: text outside the root element")
			}
		case xml.Directive:
			// No DOCTYPE means no entity definitions: nothing can expand.
			return nil, badBody("xml: directives (DOCTYPE) are not accepted")
		}
	}
	if !rootDone {
		return nil, badBody("xml: no complete root element")
	}
	return f, nil
}

func parseJSON(body []byte) (fields, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, badBody("json: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, badBody("json: data after the object")
	}
	if len(obj) == 1 {
		for _, v := range obj {
			if inner, ok := v.(map[string]any); ok {
				obj = inner
			}
		}
	}
	f := fields{}
	for k, v := range obj {
		var s string
		switch v := v.(type) {
		case nil:
			continue
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		default:
			if known[strings.ToLower(k)] {
				return nil, badBody("json: field %q is not a string or number", k)
			}
			continue // an unknown structured field: not ours
		}
		if err := f.set(k, s); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func parseForm(body []byte) (fields, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badBody("form: %v", err)
	}
	f := fields{}
	for k, vs := range vals {
		for _, v := range vs {
			if err := f.set(k, v); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// known lists the field names svc-callback reads (after lower-casing).
var known = map[string]bool{
	"confid": true, "callid": true, "callsid": true, "number": true, "result": true, "status": true,
	"createtime": true, "jointime": true, "quittime": true, "deltime": true, "time": true,
	"notifytype": true, "state": true, "recordduration": true, "recordurl": true,
}

// timeFields lists, per kind, where the event time is looked for, in order.
var timeFields = map[string][]string{
	contract.KindCreated:   {"createtime", "time"},
	contract.KindInvite:    {"jointime", "time"},
	contract.KindJoined:    {"jointime", "time"},
	contract.KindQuit:      {"quittime", "jointime", "time"}, // the original notification document names the quit time "jointime" too
	contract.KindDeleted:   {"deltime", "time"},
	contract.KindDismissed: {"time", "deltime"},
	contract.KindMedia:     {"time"},
}

// needCallID lists the kinds whose callback must name the call.
var needCallID = map[string]bool{contract.KindInvite: true, contract.KindJoined: true, contract.KindQuit: true}

var numberPattern = regexp.MustCompile(`^[0-9A-Za-z+*#._@:-]{1,64}$`)

// buildEvent validates f as a callback of kind and returns its event
// (Seq still 0). loc is the platform's time zone.
func buildEvent(kind string, f fields, loc *time.Location, received time.Time) (*contract.Event, error) {
	ev := &contract.Event{Kind: kind, Received: received.UTC()}
	ev.ConfID = f["confid"]
	if !contract.ConfIDPattern.MatchString(ev.ConfID) {
		return nil, badBody("confid %q is not 4-8 digits", ev.ConfID)
	}
	if v, ok := f["callid"]; ok && v != "" {
		if !contract.CallIDPattern.MatchString(v) {
			return nil, badBody("callid %q is not 32 letters/digits", v)
		}
		ev.CallID = v
	} else if needCallID[kind] {
		return nil, badBody("callid missing")
	}
	if v := f["number"]; v != "" {
		if !numberPattern.MatchString(v) {
			return nil, badBody("number %q is malformed", v)
		}
		ev.Number = v
	}
	var err error
	if ev.Result, err = optInt(f, "result"); err != nil {
		return nil, err
	}
	if ev.Status, err = optInt(f, "status"); err != nil {
		return nil, err
	}
	for _, name := range timeFields[kind] {
		v, ok := f[name]
		if !ok || v == "" {
			continue
		}
		t, err := eventTime(v, loc)
		if err != nil {
			return nil, badBody("%s %q: %v", name, v, err)
		}
		ev.Time = t
		break
	}
	if kind == contract.KindMedia {
		m := map[string]string{}
		for _, name := range []string{"notifytype", "state", "recordduration"} {
			if v := f[name]; v != "" {
				if _, err := strconv.Atoi(v); err != nil {
					return nil, badBody("%s %q is not an integer", name, v)
				}
				m[name] = v
			}
		}
		if v := f["recordurl"]; v != "" {
			if len(v) > 2048 || strings.ContainsAny(v, " \t\r\n") {
				return nil, badBody("recordurl is malformed")
			}
			// Browsers get it as a link: only http(s) URLs with a host, never
			// javascript:, data: or the like.
			if u, err := url.Parse(v); err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" {
				return nil, badBody("recordurl must be an http or https URL")
			}
			m["recordurl"] = v
		}
		if m["notifytype"] == "" {
			return nil, badBody("media callback without notifytype")
		}
		ev.Media = m
	}
	return ev, nil
}

func optInt(f fields, name string) (*int, error) {
	v, ok := f[name]
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, badBody("%s %q is not an integer", name, v)
	}
	return &n, nil
}

// identity is what makes an event the same event again (a platform retry).
type identity struct {
	// Key is hex sha256 of "callid|kind|time|confid" followed, for kinds
	// that need them, by "|name=value" of the fields that tell two events
	// apart when the callback carries no callid or time.
	Key string
	// Repeatable marks events that can legitimately happen twice with the
	// same Key: a dismissed or media callback without an event time (the
	// same mute twice, a second failed dismiss). Their Nats-Msg-Id is not
	// Key alone (see msgID), and a retry of one is recognised only while it
	// is still the conference's latest event.
	Repeatable bool
}

func identify(ev *contract.Event) identity {
	parts := []string{ev.CallID, ev.Kind, ev.Time, ev.ConfID}
	switch ev.Kind {
	case contract.KindInvite:
		// A result-less invite (still ringing) and its outcome may carry
		// the same time, or none: the result tells them apart.
		parts = append(parts, "result="+intStr(ev.Result))
	case contract.KindDismissed:
		parts = append(parts, "status="+intStr(ev.Status))
	case contract.KindMedia:
		parts = append(parts,
			"notifytype="+ev.Media["notifytype"],
			"state="+ev.Media["state"],
			"result="+intStr(ev.Result),
			"recordurl="+ev.Media["recordurl"])
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return identity{
		Key:        hex.EncodeToString(sum[:]),
		Repeatable: ev.Time == "" && (ev.Kind == contract.KindDismissed || ev.Kind == contract.KindMedia),
	}
}

// msgID is the Nats-Msg-Id of an event published after the conference's
// event prevSeq: the key itself, or for a repeatable event the key bound to
// its predecessor, so a later repeat is stored while a concurrent retry of
// the same one is not.
func (id identity) msgID(prevSeq uint64) string {
	if !id.Repeatable {
		return id.Key
	}
	sum := sha256.Sum256([]byte(id.Key + "|after|" + strconv.FormatUint(prevSeq, 10)))
	return hex.EncodeToString(sum[:])
}

func intStr(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

// truncate returns at most n bytes of b for a log line.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…(truncated)"
}

// dashedLayout is the other time format seen in the platform's pushes.
const dashedLayout = "2006-01-02 15:04:05"

// eventTime checks a platform time in either format (yyyyMMddHHmmss or
// yyyy-MM-dd HH:mm:ss) and returns it as yyyyMMddHHmmss, the format of
// every event.
func eventTime(v string, loc *time.Location) (string, error) {
	layout := contract.TimeLayout
	if len(v) == len(dashedLayout) {
		layout = dashedLayout
	}
	if len(v) != len(layout) || strings.Trim(v, "0123456789- :") != "" {
		return "", errors.New("not yyyyMMddHHmmss or yyyy-MM-dd HH:mm:ss")
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return "", err
	}
	return t.Format(contract.TimeLayout), nil
}
