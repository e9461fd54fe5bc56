package jsonrpc

import (
	"bytes"
	"encoding/json"
	"testing"

	"confapplet/pkg/contract"
)

// FuzzDecode proves that no input panics and that every input yields either
// nothing (a notification) or exactly one valid JSON-RPC response object.
// The seed corpus lives in testdata/fuzz/FuzzDecode; `go test` runs it.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"CreateConf"}`,
		`{"jsonrpc":"2.0","id":"a","method":"QueryConfState","params":["1234"]}`,
		`{"jsonrpc":"2.0","method":"QueryConfState","params":{"confid":"1234"}}`,
		`[]`, `[1]`, `{}`, `null`, `"x"`, `{"jsonrpc":"2.0","id":[],"method":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, contract.Methods)
		var out []byte
		switch {
		case err != nil && c.ID == nil:
			if !c.IsNotification() {
				t.Fatalf("error without id on a request: %v", err)
			}
			return // a failed notification: nothing
		case err != nil:
			out = AppendError(nil, c.ID, err)
		case c.IsNotification():
			return
		default:
			// Differential check against encoding/json.
			var m map[string]json.RawMessage
			if e := json.Unmarshal(data, &m); e != nil {
				t.Fatalf("accepted what encoding/json rejects: %v", e)
			}
			var method string
			if json.Unmarshal(m["method"], &method) != nil || method != c.Method || !bytes.Equal(m["id"], c.ID) {
				t.Fatalf("method %q id %s, encoding/json says %s %s", c.Method, c.ID, m["method"], m["id"])
			}
			out = AppendResult(nil, c.ID, Null)
			if !json.Valid(c.Args.AppendObject(nil)) {
				t.Fatalf("args object invalid: %s", c.Args.AppendObject(nil))
			}
		}
		checkResponse(t, out, err)
	})
}

// checkResponse asserts out is one valid response object.
func checkResponse(t *testing.T, out []byte, want *Error) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if e := dec.Decode(&m); e != nil {
		t.Fatalf("response is not a JSON object: %v: %s", e, out)
	}
	if dec.More() {
		t.Fatalf("more than one value: %s", out)
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		t.Fatalf("bad jsonrpc: %s", out)
	}
	id, ok := m["id"]
	if !ok || !(id[0] == '"' || id[0] == 'n' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')) {
		t.Fatalf("bad id: %s", out)
	}
	_, hasRes := m["result"]
	e, hasErr := m["error"]
	if hasRes == hasErr {
		t.Fatalf("need exactly one of result/error: %s", out)
	}
	if hasErr {
		var eo struct {
			Code    *int    `json:"code"`
			Message *string `json:"message"`
		}
		if json.Unmarshal(e, &eo) != nil || eo.Code == nil || eo.Message == nil {
			t.Fatalf("bad error object: %s", out)
		}
		if want != nil && *eo.Code != want.Code {
			t.Fatalf("code %d, want %d", *eo.Code, want.Code)
		}
	}
}
