package jsonrpc

import (
	"encoding/json"
	"strings"
	"testing"

	"confapplet/pkg/contract"
)

func TestParse(t *testing.T) {
	const call = "0123456789abcdef0123456789ABCDEF"
	cases := []struct {
		name string
		in   string
		code int    // 0: success
		id   string // expected id to answer with; "" = no answer
		msg  string // substring of the error message
		args string // expected Args.AppendObject on success
	}{
		{"invalid JSON", `{"jsonrpc":"2.0",`, CodeParseError, "null", "parse error", ""},
		{"empty input", ``, CodeParseError, "null", "parse error", ""},
		{"empty batch", `[]`, CodeInvalidRequest, "null", "batch", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"CreateConf"}]`, CodeInvalidRequest, "null", "batch", ""},
		{"not an object", `42`, CodeInvalidRequest, "null", "not a JSON object", ""},
		{"string", `"CreateConf"`, CodeInvalidRequest, "null", "not a JSON object", ""},
		{"no jsonrpc", `{"id":1,"method":"CreateConf"}`, CodeInvalidRequest, "1", `"jsonrpc"`, ""},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"CreateConf"}`, CodeInvalidRequest, "1", `"jsonrpc"`, ""},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":1,"method":"CreateConf"}`, CodeInvalidRequest, "1", `"jsonrpc"`, ""},
		{"jsonrpc case", `{"JSONRPC":"2.0","id":1,"method":"CreateConf"}`, CodeInvalidRequest, "1", `"jsonrpc"`, ""},
		{"no method", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest, "1", `"method"`, ""},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":1}`, CodeInvalidRequest, "1", `"method"`, ""},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"CreateConf"}`, CodeInvalidRequest, "null", `"id"`, ""},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"CreateConf"}`, CodeInvalidRequest, "null", `"id"`, ""},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":"x"}`, CodeInvalidRequest, "1", `"params"`, ""},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":null}`, CodeInvalidRequest, "1", `"params"`, ""},
		{"repeated member", `{"jsonrpc":"2.0","id":1,"id":2,"method":"CreateConf"}`, CodeInvalidRequest, "1", "repeated", ""},
		{"repeat before the id keeps the id", `{"jsonrpc":"2.0","jsonrpc":"2.0","id":5,"method":"CreateConf"}`, CodeInvalidRequest, "5", `repeated member "jsonrpc"`, ""},
		{"first repeat is named", `{"method":"x","method":"y","params":[],"params":{},"id":"a","jsonrpc":"2.0"}`, CodeInvalidRequest, `"a"`, `repeated member "method"`, ""},
		{"malformed notification is answered", `{"jsonrpc":"2.0","method":1}`, CodeInvalidRequest, "null", `"method"`, ""},
		{"unknown method", `{"jsonrpc":"2.0","id":"x","method":"Nope"}`, CodeMethodNotFound, `"x"`, `"Nope"`, ""},
		{"internal method not callable", `{"jsonrpc":"2.0","id":"x","method":"ListOwned"}`, CodeMethodNotFound, `"x"`, "ListOwned", ""},
		{"unknown method notification", `{"jsonrpc":"2.0","method":"Nope"}`, CodeMethodNotFound, "", "", ""},
		{"bad params notification", `{"jsonrpc":"2.0","method":"DismissConf","params":[1]}`, CodeInvalidParams, "", "", ""},
		{"id null is a request", `{"jsonrpc":"2.0","id":null,"method":"CreateConf"}`, 0, "null", "", `{}`},
		{"big id kept", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"CreateConf"}`, 0, "123456789012345678901234567890", "", `{}`},
		{"fraction id kept", `{"jsonrpc":"2.0","id":1.50,"method":"CreateConf"}`, 0, "1.50", "", `{}`},
		{"exp id kept", `{"method":"CreateConf","id":-1e400,"jsonrpc":"2.0"}`, 0, "-1e400", "", `{}`},
		{"escaped string id kept", `{"jsonrpc":"2.0","id":"a\u00e9\"b","method":"CreateConf"}`, 0, `"a\u00e9\"b"`, "", `{}`},
		{"notification", `{"jsonrpc":"2.0","method":"DismissConf","params":["1234"]}`, 0, "", "", `{"confid":"1234"}`},
		{"escaped member names", `{"jsonrpc":"2.0","id":1,"\u006dethod":"CreateConf"}`, 0, "1", "", `{}`},
		{"extra members ignored", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","x":[1,{"a":"]"}]}`, 0, "1", "", `{}`},
		{"create by name", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"maxmember":5,"idempotency_key":"k-1"}}`, 0, "1", "", `{"maxmember":5,"idempotency_key":"k-1"}`},
		{"create positional takes none", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":[5]}`, CodeInvalidParams, "1", "too many params", ""},
		{"create empty array", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":[]}`, 0, "1", "", `{}`},
		{"key not positional", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234","13800138000","k"]}`, CodeInvalidParams, "1", "too many params", ""},
		{"maxmember fraction", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"maxmember":1.5}}`, CodeInvalidParams, "1", `"maxmember"`, ""},
		{"maxmember zero", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"maxmember":0}}`, CodeInvalidParams, "1", `"maxmember" must be an integer from 1 to 2147483647`, ""},
		{"maxmember negative zero", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"maxmember":-0}}`, CodeInvalidParams, "1", `from 1 to`, ""},
		{"maxmember too big says so", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"maxmember":99999999999}}`, CodeInvalidParams, "1", `"maxmember" must be an integer from 1 to 2147483647`, ""},
		{"since too big says so", `{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":["12345678",99999999999999999999999]}`, CodeInvalidParams, "1", `"since" must be an integer from 0 to 18446744073709551615`, ""},
		{"too many numbers says so", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234","` + strings.Repeat("13800138000#", 32) + `13800138000"]}`, CodeInvalidParams, "1", `"number" has more than 32 numbers`, ""},
		{"invite positional", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["12345678","13800138000#+8613900139000"]}`, 0, "1", "", `{"confid":"12345678","number":"13800138000#+8613900139000"}`},
		{"invite by name with key", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":{"number":"13800138000","confid":"1234","idempotency_key":"abc"}}`, 0, "1", "", `{"confid":"1234","number":"13800138000","idempotency_key":"abc"}`},
		{"invite missing number", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234"]}`, CodeInvalidParams, "1", `missing param "number"`, ""},
		{"invite bad number", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234","12a"]}`, CodeInvalidParams, "1", `"number"`, ""},
		{"invite empty segment", `{"jsonrpc":"2.0","id":1,"method":"InviteJoinConf","params":["1234","13800138000#"]}`, CodeInvalidParams, "1", `"number"`, ""},
		{"confid number not string", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":[1234]}`, CodeInvalidParams, "1", `"confid"`, ""},
		{"confid too short", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":["123"]}`, CodeInvalidParams, "1", `"confid"`, ""},
		{"confid too long", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":["123456789"]}`, CodeInvalidParams, "1", `"confid"`, ""},
		{"confid escaped canonicalised", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":["\u00312345"]}`, 0, "1", "", `{"confid":"12345"}`},
		{"too many positional", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":["1234","5678"]}`, CodeInvalidParams, "1", "too many params", ""},
		{"unknown named", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":{"confid":"1234","x":1}}`, CodeInvalidParams, "1", `unknown param "x"`, ""},
		{"repeated named", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":{"confid":"1234","confid":"1234"}}`, CodeInvalidParams, "1", `repeated param "confid"`, ""},
		{"missing named", `{"jsonrpc":"2.0","id":1,"method":"DismissConf","params":{}}`, CodeInvalidParams, "1", `missing param "confid"`, ""},
		{"no params at all", `{"jsonrpc":"2.0","id":1,"method":"DismissConf"}`, CodeInvalidParams, "1", `missing param "confid"`, ""},
		{"quit", `{"jsonrpc":"2.0","id":1,"method":"QuitConf","params":["1234","` + call + `"]}`, 0, "1", "", `{"confid":"1234","callid":"` + call + `"}`},
		{"quit bad callid", `{"jsonrpc":"2.0","id":1,"method":"QuitConf","params":["1234","short"]}`, CodeInvalidParams, "1", `"callid"`, ""},
		{"watch since", `{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":["1234",7]}`, 0, "1", "", `{"confid":"1234","since":7}`},
		{"watch negative since", `{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":["1234",-1]}`, CodeInvalidParams, "1", `"since"`, ""},
		{"key too long", `{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":{"idempotency_key":"` + strings.Repeat("k", 129) + `"}}`, CodeInvalidParams, "1", `"idempotency_key"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in), contract.Methods)
			if got := string(c.ID); got != tc.id {
				t.Fatalf("answer id %q, want %q (err %v)", got, tc.id, err)
			}
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if got := string(c.Args.AppendObject(nil)); got != tc.args {
					t.Fatalf("args %s, want %s", got, tc.args)
				}
				return
			}
			if err == nil || err.Code != tc.code {
				t.Fatalf("error %v, want code %d", err, tc.code)
			}
			if !strings.Contains(err.Message, tc.msg) {
				t.Fatalf("message %q lacks %q", err.Message, tc.msg)
			}
			if c.ID != nil {
				checkResponse(t, AppendError(nil, c.ID, err), err)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	got := string(AppendResult(nil, json.RawMessage(`12345678901234567890`), json.RawMessage(`"1234"`)))
	if got != `{"jsonrpc":"2.0","id":12345678901234567890,"result":"1234"}` {
		t.Fatal(got)
	}
	got = string(AppendResult(nil, nil, nil))
	if got != `{"jsonrpc":"2.0","id":null,"result":null}` {
		t.Fatal(got)
	}
	e := &Error{Code: 1001, Message: "bad \"conf\"\n\x01\u2028\xff", Data: json.RawMessage(`{"a":1}`)}
	out := AppendError(nil, json.RawMessage(`"x"`), e)
	var back struct {
		ID    string `json:"id"`
		Error Error  `json:"error"`
	}
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if back.ID != "x" || back.Error.Code != 1001 || back.Error.Message != "bad \"conf\"\n\x01\u2028\ufffd" || string(back.Error.Data) != `{"a":1}` {
		t.Fatalf("round trip: %+v from %s", back, out)
	}
	n := string(AppendNotification(nil, "OnConfDel", json.RawMessage(`{"confid":"1234"}`)))
	if n != `{"jsonrpc":"2.0","method":"OnConfDel","params":{"confid":"1234"}}` {
		t.Fatal(n)
	}
}

func TestFromContract(t *testing.T) {
	e := FromContract(&contract.Error{Code: contract.CodeConfNotFound, Data: json.RawMessage(`{"confid":"1234"}`)})
	if e.Code != 1001 || e.Message != "conference not found" || string(e.Data) != `{"confid":"1234"}` {
		t.Fatalf("%+v", e)
	}
	e = FromContract(&contract.Error{Code: "brand_new", Message: "m", Data: json.RawMessage(`{bad`)})
	if e.Code != CodeInternal || e.Message != "m" || e.Data != nil {
		t.Fatalf("%+v", e)
	}
}

var benchReq = []byte(`{"jsonrpc":"2.0","id":42,"method":"InviteJoinConf","params":["12345678","13800138000"]}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReq)))
	for b.Loop() {
		if _, err := Parse(benchReq, contract.Methods); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeNamed(b *testing.B) {
	in := []byte(`{"jsonrpc":"2.0","id":"req-42","method":"InviteJoinConf","params":{"confid":"12345678","number":"13800138000","idempotency_key":"k1"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Parse(in, contract.Methods); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResult(b *testing.B) {
	buf := make([]byte, 0, 256)
	id, res := json.RawMessage(`42`), json.RawMessage(`{"state":1,"count":2}`)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResult(buf[:0], id, res)
	}
}

func BenchmarkEncodeError(b *testing.B) {
	buf := make([]byte, 0, 256)
	id := json.RawMessage(`42`)
	e := &Error{Code: 1001, Message: "conference not found"}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendError(buf[:0], id, e)
	}
}
