package ytxsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"
)

// Outcome is what happens to a dialled number.
type Outcome string

const (
	OutcomeAnswer   Outcome = "answer"   // rings for Delay, joins; leaves after HangupAfter if set
	OutcomeBusy     Outcome = "busy"     // rings for Delay, then the invitation fails with ResultBusy
	OutcomeNoAnswer Outcome = "noanswer" // rings for Delay (default NoAnswerTimeout), then ResultNoAnswer
	OutcomeInvalid  Outcome = "invalid"  // fails after Delay (default 500 ms) with ResultInvalidNumber
)

// Invitation results, the `result` field of the invite-result callback. The
// platform documents no value but 0 = success; these are
// the simulator's, documented in docs/yuntongxun.md.
const (
	ResultJoined        = 0 // the invitee answered and joined
	ResultBusy          = 1 // busy or refused
	ResultNoAnswer      = 2 // nobody answered before the timeout
	ResultInvalidNumber = 3 // the number does not exist
	ResultCancelled     = 4 // the conference ended, or QuitConf cancelled the invitation, before an answer
	ResultRejected      = 5 // hung up while ringing (control API hang-up of a ringing call)
)

// Test numbers of the default rules.
const (
	NumberBusy     = "13800000001" // busy after 1 s
	NumberNoAnswer = "13800000002" // no answer after NoAnswerTimeout (30 s)
	NumberInvalid  = "13800000003" // invalid number after 500 ms
	NumberHangsUp  = "13800000004" // answers (1–2 s), hangs up 5 s later
)

// Default delays.
const (
	NoAnswerTimeout     = 30 * time.Second
	DefaultInvalidDelay = 500 * time.Millisecond
	DefaultBusyDelay    = time.Second
	HangsUpAfter        = 5 * time.Second
)

// Rule decides the fate of the numbers matching Pattern (a Go regexp, not
// anchored unless you anchor it). The first matching rule wins; a number no
// rule matches answers after its AnswerDelay.
type Rule struct {
	Pattern string
	Outcome Outcome
	// Delay is how long the call rings before the outcome; 0 = the
	// outcome's default (AnswerDelay(number) for answer and busy,
	// NoAnswerTimeout, DefaultInvalidDelay).
	Delay time.Duration
	// HangupAfter makes an answered member leave after this long; 0 = stays.
	HangupAfter time.Duration

	re *regexp.Regexp
}

// ruleJSON is Rule on the wire (PUT /_sim/rules): durations as Go strings
// ("1.5s") or integer milliseconds.
type ruleJSON struct {
	Pattern     string          `json:"pattern"`
	Outcome     Outcome         `json:"outcome"`
	Delay       json.RawMessage `json:"delay,omitempty"`
	HangupAfter json.RawMessage `json:"hangup_after,omitempty"`
}

// MarshalJSON writes durations as strings.
func (r Rule) MarshalJSON() ([]byte, error) {
	type out struct {
		Pattern     string  `json:"pattern"`
		Outcome     Outcome `json:"outcome"`
		Delay       string  `json:"delay,omitempty"`
		HangupAfter string  `json:"hangup_after,omitempty"`
	}
	o := out{Pattern: r.Pattern, Outcome: r.Outcome}
	if r.Delay != 0 {
		o.Delay = r.Delay.String()
	}
	if r.HangupAfter != 0 {
		o.HangupAfter = r.HangupAfter.String()
	}
	return json.Marshal(o)
}

// UnmarshalJSON reads durations as strings or milliseconds.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var in ruleJSON
	// Strict: a misspelt field ("hangupAfter") would otherwise be dropped
	// silently and the rule would not do what its author thinks.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return err
	}
	var err error
	*r = Rule{Pattern: in.Pattern, Outcome: in.Outcome}
	if r.Delay, err = parseJSONDuration(in.Delay); err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	if r.HangupAfter, err = parseJSONDuration(in.HangupAfter); err != nil {
		return fmt.Errorf("hangup_after: %w", err)
	}
	return nil
}

func parseJSONDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return time.ParseDuration(s)
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return 0, fmt.Errorf("want a duration string or milliseconds, got %s", raw)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// compile checks and compiles rules.
func compileRules(rules []Rule) ([]Rule, error) {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		switch r.Outcome {
		case OutcomeAnswer, OutcomeBusy, OutcomeNoAnswer, OutcomeInvalid:
		default:
			return nil, fmt.Errorf("rule %d: unknown outcome %q (want answer, busy, noanswer, invalid)", i, r.Outcome)
		}
		if r.Delay < 0 || r.HangupAfter < 0 {
			return nil, fmt.Errorf("rule %d: negative duration", i)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("rule %d: pattern: %w", i, err)
		}
		r.re = re
		out[i] = r
	}
	return out, nil
}

// DefaultRules are the rules of a new simulator: the test numbers, then
// everything answers.
func DefaultRules() []Rule {
	return []Rule{
		{Pattern: "^" + NumberBusy + "$", Outcome: OutcomeBusy, Delay: DefaultBusyDelay},
		{Pattern: "^" + NumberNoAnswer + "$", Outcome: OutcomeNoAnswer, Delay: NoAnswerTimeout},
		{Pattern: "^" + NumberInvalid + "$", Outcome: OutcomeInvalid, Delay: DefaultInvalidDelay},
		{Pattern: "^" + NumberHangsUp + "$", Outcome: OutcomeAnswer, HangupAfter: HangsUpAfter},
		{Pattern: ".", Outcome: OutcomeAnswer},
	}
}

// AnswerDelay is how long number rings before it answers by default:
// between 1 s and 2 s, always the same for one number, so a demo looks
// lively and a test can predict it.
func AnswerDelay(number string) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(number))
	return time.Second + time.Duration(h.Sum32()%1000)*time.Millisecond
}

// plan is what a rule decides for one number.
type plan struct {
	outcome     Outcome
	delay       time.Duration
	hangupAfter time.Duration
}

func planFor(rules []Rule, number string) plan {
	r := Rule{Outcome: OutcomeAnswer}
	for _, x := range rules {
		if x.re != nil && x.re.MatchString(number) {
			r = x
			break
		}
	}
	p := plan{outcome: r.Outcome, delay: r.Delay, hangupAfter: r.HangupAfter}
	if p.delay == 0 {
		switch p.outcome {
		case OutcomeNoAnswer:
			p.delay = NoAnswerTimeout
		case OutcomeInvalid:
			p.delay = DefaultInvalidDelay
		default:
			p.delay = AnswerDelay(number)
		}
	}
	return p
}
