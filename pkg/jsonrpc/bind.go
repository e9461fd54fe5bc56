package jsonrpc

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"confapplet/pkg/contract"
)

// Args are bound params: each present param of the method's spec, in spec
// order, with a canonical JSON value (strings without escapes, integers as
// plain digits). Absent optional params are left out.
type Args struct {
	n      int
	names  [maxParams]string
	values [maxParams]json.RawMessage
}

// maxParams bounds the params of one method (contract.Methods has at most 3).
const maxParams = 6

// Get returns the canonical JSON value of param name.
func (a *Args) Get(name string) (json.RawMessage, bool) {
	for i := 0; i < a.n; i++ {
		if a.names[i] == name {
			return a.values[i], true
		}
	}
	return nil, false
}

// String returns the value of a string param ("" when absent).
func (a *Args) String(name string) string {
	v, ok := a.Get(name)
	if !ok {
		return ""
	}
	s, _ := stringValue(v)
	return s
}

// Uint returns the value of an integer param; ok is false when absent.
func (a *Args) Uint(name string) (n uint64, ok bool) {
	v, ok := a.Get(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	return n, err == nil
}

// AppendObject appends the params as one JSON object by name, which is the
// request body the conference service expects (contract.*Request).
func (a *Args) AppendObject(dst []byte) []byte {
	dst = append(dst, '{')
	for i, n := range a.names[:a.n] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, n)
		dst = append(dst, ':')
		dst = append(dst, a.values[i]...)
	}
	return append(dst, '}')
}

// isNumber accepts one phone number of a KindNumbers param: 3–24 digits with
// an optional leading '+'. Which numbers may really be dialled is the
// conference service's allow-list.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	return len(s) >= 3 && len(s) <= 24 && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxNumbers bounds the numbers of one KindNumbers param.
const maxNumbers = 32

// bind checks raw params (an array, an object, or nil for none) against
// spec: by position in spec order (params that are Optional and not
// Positional may only be named), or by name. Any mismatch is a -32602 error
// whose message names the param.
func bind(spec contract.Method, raw json.RawMessage) (Args, *Error) {
	var a Args
	n := len(spec.Params)
	if n > maxParams {
		return Args{}, newError(CodeInternal, "method "+spec.Name+" has too many params")
	}
	var got [maxParams]json.RawMessage // by spec index
	switch {
	case len(raw) == 0:
	case raw[0] == '[':
		pos := 0
		it := elements{data: raw}
		for {
			v, ok := it.next()
			if !ok {
				break
			}
			for pos < n && spec.Params[pos].Optional && !spec.Params[pos].Positional {
				pos++
			}
			if pos >= n {
				return Args{}, invalidParams("too many params: " + spec.Name + " takes at most " + strconv.Itoa(positional(spec)) + " by position")
			}
			got[pos] = v
			pos++
		}
		if it.err {
			return Args{}, invalidParams("invalid params")
		}
	case raw[0] == '{':
		it := members{data: raw}
		for {
			k, v, ok := it.next()
			if !ok {
				break
			}
			idx := -1
			for i := range spec.Params {
				if keyIs(k, spec.Params[i].Name) {
					idx = i
					break
				}
			}
			if idx < 0 {
				return Args{}, invalidParams("unknown param " + quote(keyString(k)))
			}
			if got[idx] != nil {
				return Args{}, invalidParams("repeated param " + quote(keyString(k)))
			}
			got[idx] = v
		}
		if it.err {
			return Args{}, invalidParams("invalid params")
		}
	default:
		return Args{}, newError(CodeInvalidRequest, msgParams)
	}
	for i, p := range spec.Params {
		v := got[i]
		if v == nil {
			if !p.Optional {
				return Args{}, invalidParams("missing param " + quote(p.Name))
			}
			continue
		}
		cv, msg := check(p, v)
		if msg != "" {
			return Args{}, invalidParams("param " + quote(p.Name) + " " + msg)
		}
		a.names[a.n], a.values[a.n] = p.Name, cv
		a.n++
	}
	return a, nil
}

func positional(spec contract.Method) int {
	k := 0
	for _, p := range spec.Params {
		if !p.Optional || p.Positional {
			k++
		}
	}
	return k
}

func invalidParams(msg string) *Error { return newError(CodeInvalidParams, msg) }

// check validates v against p's kind and returns its canonical form, or a
// message saying what is wrong.
func check(p contract.Param, v json.RawMessage) (json.RawMessage, string) {
	switch p.Kind {
	case contract.KindConfID:
		return checkString(v, "must be a string of 4 to 8 digits", contract.ValidConfID)
	case contract.KindCallID:
		return checkString(v, "must be a string of 32 letters or digits", contract.ValidCallID)
	case contract.KindKey:
		return checkString(v, "must be a string of 1 to 128 printable ASCII characters", contract.ValidKey)
	case contract.KindToken:
		return checkString(v, "must be a connection token (a JWT)", contract.ValidToken)
	case contract.KindNumbers:
		if s, ok := stringValue(v); ok && strings.Count(s, "#") >= maxNumbers {
			return nil, "has more than " + strconv.Itoa(maxNumbers) + " numbers"
		}
		return checkString(v, "must be a string of phone numbers (digits, optional leading +) joined by '#'", validNumbers)
	case contract.KindInt:
		// A well-formed integer out of range is told so, not "not an integer".
		n, err := strconv.ParseInt(string(v), 10, 32)
		switch {
		case errors.Is(err, strconv.ErrRange) || err == nil && n < 1:
			return nil, "must be an integer from 1 to " + strconv.Itoa(math.MaxInt32)
		case err != nil:
			return nil, "must be an integer"
		}
		return v, ""
	case contract.KindSeq:
		_, err := strconv.ParseUint(string(v), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return nil, "must be an integer from 0 to " + strconv.FormatUint(math.MaxUint64, 10)
		case err != nil:
			return nil, "must be a non-negative integer"
		}
		return v, ""
	}
	return nil, "has an unknown kind"
}

func checkString(v json.RawMessage, msg string, ok func(string) bool) (json.RawMessage, string) {
	s, isStr := stringValue(v)
	if !isStr || !ok(s) {
		return nil, msg
	}
	if len(v) == len(s)+2 {
		return v, "" // no escapes: already canonical
	}
	return AppendString(nil, s), ""
}

// validNumbers checks the numbers' syntax; their count is checked first
// (check), with a message of its own.
func validNumbers(s string) bool {
	if s == "" {
		return false
	}
	for seg := range strings.SplitSeq(s, "#") {
		if !isNumber(seg) {
			return false
		}
	}
	return true
}
