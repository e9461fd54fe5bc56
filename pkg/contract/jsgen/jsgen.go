// Package jsgen renders the browser protocol of pkg/contract for
// JavaScript: an ES module with the contract's values (error codes, close
// codes, methods and their deadlines, notification names) and TypeScript
// declarations of every method's params and result, every notification's
// params and every error code. The JavaScript client package
// (svc-edge/web/client-js) ships both files; a test there fails when they
// differ from what this package renders, so the Go and JavaScript sides of
// the protocol cannot drift apart.
//
// Types are read from the contract's Go types by reflection: JSON names
// from the json tags (omitempty makes a field optional), value sets from
// enum tags.
package jsgen

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"confapplet/pkg/contract"
)

// Header opens both files: they are generated, and say how to regenerate.
const Header = "// Generated from pkg/contract by pkg/contract/jsgen: do not edit.\n" +
	"// UPDATE_DOCS=1 go test ./svc-edge/web/ rewrites it.\n"

// Module returns contract.js: the contract's values for the client at run
// time.
func Module() []byte {
	var b bytes.Buffer
	b.WriteString(Header)
	b.WriteString("\n/** JSON-RPC error codes by name (docs/protocol.md section 7). */\nexport const ErrorCode = Object.freeze({\n")
	for _, s := range contract.Table {
		fmt.Fprintf(&b, "  %s: %d,\n", pascal(string(s.Code)), s.RPC)
	}
	b.WriteString("});\n\n/** Each code's name, default message and whether the same request may succeed later. */\nexport const Errors = Object.freeze({\n")
	for _, s := range contract.Table {
		fmt.Fprintf(&b, "  %q: Object.freeze({ name: %q, message: %q, retry: %t }),\n", fmt.Sprint(s.RPC), s.Code, s.Message, s.Retry)
	}
	b.WriteString("});\n\n/** Close codes the edge sends (docs/protocol.md section 8). */\nexport const Close = Object.freeze({\n")
	for _, c := range closeCodes() {
		fmt.Fprintf(&b, "  %s: %d,\n", pascal(contract.Closes[c].Label), c)
	}
	b.WriteString("});\n\n/**\n * Every method a client may call: its params in positional order and its\n" +
		" * server-side deadline in ms (the edge answers -32001 when it passes).\n */\nexport const MethodSpecs = Object.freeze({\n")
	for _, m := range publicMethods() {
		var names []string
		for _, p := range m.Params {
			names = append(names, fmt.Sprintf("%q", p.Name))
		}
		fmt.Fprintf(&b, "  %s: Object.freeze({ params: Object.freeze([%s]), deadlineMs: %d }),\n",
			m.Name, strings.Join(names, ", "), m.Timeout.Milliseconds())
	}
	b.WriteString("});\n\n/** Notifications that carry an event with a per-conference seq. */\nexport const eventNotifications = Object.freeze([")
	var events []string
	for _, n := range contract.NotificationTable {
		if n.Event {
			events = append(events, fmt.Sprintf("%q", n.Name))
		}
	}
	b.WriteString(strings.Join(events, ", ") + "]);\n")
	return b.Bytes()
}

// Declarations returns contract.d.ts: the types of contract.js and of
// every method, result, notification and error data.
func Declarations() []byte {
	d := &decls{seen: map[reflect.Type]bool{}}
	var b bytes.Buffer
	b.WriteString(Header)
	d.values(&b)
	d.methods(&b)
	d.notifications(&b)
	d.errorData(&b)
	b.WriteString("\n// Types of the results, params and error data above.\n")
	b.Write(d.types.Bytes())
	return b.Bytes()
}

// decls collects the interfaces of the Go struct types the declarations
// name, each once.
type decls struct {
	seen  map[reflect.Type]bool
	types bytes.Buffer
}

func (d *decls) values(b *bytes.Buffer) {
	b.WriteString("\n/** JSON-RPC error codes by name (docs/protocol.md section 7). */\nexport declare const ErrorCode: {\n")
	var codes []string
	for _, s := range contract.Table {
		fmt.Fprintf(b, "  /** %s (retry: %s) */\n  readonly %s: %d;\n", s.Message, yesNo(s.Retry), pascal(string(s.Code)), s.RPC)
		codes = append(codes, fmt.Sprint(s.RPC))
	}
	b.WriteString("};\n\n/** Every error code the server sends; a newer server may send others (see docs/protocol.md section 7). */\n")
	fmt.Fprintf(b, "export type ErrorCodeValue = %s;\n", strings.Join(codes, " | "))
	b.WriteString("\nexport interface ErrorSpec {\n  readonly name: string;\n  readonly message: string;\n  readonly retry: boolean;\n}\n")
	b.WriteString("\n/** Each code's name, default message and whether the same request may succeed later. */\n" +
		"export declare const Errors: { readonly [code: string]: ErrorSpec | undefined };\n")
	b.WriteString("\n/** Close codes the edge sends (docs/protocol.md section 8). */\nexport declare const Close: {\n")
	var closes []string
	for _, c := range closeCodes() {
		fmt.Fprintf(b, "  /** %s */\n  readonly %s: %d;\n", contract.Closes[c].Reason, pascal(contract.Closes[c].Label), c)
		closes = append(closes, fmt.Sprint(c))
	}
	b.WriteString("};\n\n")
	fmt.Fprintf(b, "export type CloseCode = %s;\n", strings.Join(closes, " | "))
	b.WriteString("\nexport interface MethodSpec {\n  readonly params: readonly string[];\n  readonly deadlineMs: number;\n}\n")
	b.WriteString("\nexport declare const MethodSpecs: { readonly [M in MethodName]: MethodSpec };\n")
	b.WriteString("\nexport declare const eventNotifications: readonly EventNotificationName[];\n")
}

// methods declares interface Methods: per method its named params, its
// positional params and its result.
func (d *decls) methods(b *bytes.Buffer) {
	b.WriteString("\n/**\n * Every method: `params` by name, `positional` by position (docs/protocol.md\n" +
		" * section 4), and `result`.\n */\nexport interface Methods {\n")
	var names []string
	for _, m := range publicMethods() {
		names = append(names, fmt.Sprintf("%q", m.Name))
		var named, pos []string
		for _, p := range m.Params {
			opt := ""
			if p.Optional {
				opt = "?"
			}
			named = append(named, fmt.Sprintf("/** %s */ %s%s: %s", kindDoc(p.Kind), p.Name, opt, kindType(p.Kind)))
			if p.Positional || !p.Optional {
				pos = append(pos, fmt.Sprintf("%s%s: %s", p.Name, opt, kindType(p.Kind)))
			}
		}
		res := contract.Results[m.Name]
		result := "null"
		if res != nil {
			result = d.ts(reflect.TypeOf(res))
		}
		fmt.Fprintf(b, "  /** Server deadline %s. */\n  %s: {\n", m.Timeout, m.Name)
		fmt.Fprintf(b, "    params: {%s};\n", block(named, "      ", "    "))
		fmt.Fprintf(b, "    positional: [%s];\n    result: %s;\n  };\n", strings.Join(pos, ", "), result)
	}
	b.WriteString("}\n\nexport type MethodName = keyof Methods;\n")
}

func (d *decls) notifications(b *bytes.Buffer) {
	b.WriteString("\n/** Every notification the edge pushes, with its params (docs/protocol.md section 5). */\nexport interface Notifications {\n")
	var events []string
	for _, n := range contract.NotificationTable {
		t := d.ts(reflect.TypeOf(n.Params))
		if n.Open {
			t += " & { readonly [field: string]: string | number | undefined }"
		}
		fmt.Fprintf(b, "  %s: %s;\n", n.Name, t)
		if n.Event {
			events = append(events, fmt.Sprintf("%q", n.Name))
		}
	}
	b.WriteString("}\n\nexport type NotificationName = keyof Notifications;\n")
	fmt.Fprintf(b, "\n/** The notifications that carry an event (and a seq). */\nexport type EventNotificationName = %s;\n", strings.Join(events, " | "))
}

func (d *decls) errorData(b *bytes.Buffer) {
	b.WriteString("\n/** error.data of the codes that have a fixed shape for it. */\nexport interface ErrorDataByCode {\n")
	var codes []contract.Code
	for c := range contract.ErrorData {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b contract.Code) int { return contract.Spec(a).RPC - contract.Spec(b).RPC })
	for _, c := range codes {
		fmt.Fprintf(b, "  %d: %s;\n", contract.Spec(c).RPC, d.ts(reflect.TypeOf(contract.ErrorData[c])))
	}
	b.WriteString("}\n")
}

// ts returns the TypeScript type of t, declaring the interfaces of the
// struct types it involves.
func (d *decls) ts(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "number"
	case reflect.Slice:
		return d.ts(t.Elem()) + "[]"
	case reflect.Map:
		return "Record<string, " + d.ts(t.Elem()) + ">"
	case reflect.Struct:
		d.declare(t)
		return t.Name()
	}
	panic(fmt.Sprintf("jsgen: no TypeScript type for %s", t))
}

// declare writes the interface of struct type t, once.
func (d *decls) declare(t reflect.Type) {
	if d.seen[t] {
		return
	}
	d.seen[t] = true
	var fields []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		typ := d.ts(f.Type)
		if enum := f.Tag.Get("enum"); enum != "" {
			typ = enumType(enum, f.Type.Kind() == reflect.String)
		}
		opt := ""
		if strings.Contains(opts, "omitempty") {
			opt = "?"
		}
		fields = append(fields, fmt.Sprintf("%s%s: %s;", name, opt, typ))
	}
	fmt.Fprintf(&d.types, "\n/** contract.%s */\nexport interface %s {\n  %s\n}\n", t.Name(), t.Name(), strings.Join(fields, "\n  "))
}

func enumType(enum string, quoted bool) string {
	vals := strings.Split(enum, ",")
	for i, v := range vals {
		if quoted {
			vals[i] = fmt.Sprintf("%q", v)
		}
	}
	return strings.Join(vals, " | ")
}

func kindType(k contract.ParamKind) string {
	if k == contract.KindInt || k == contract.KindSeq {
		return "number"
	}
	return "string"
}

func kindDoc(k contract.ParamKind) string {
	switch k {
	case contract.KindConfID:
		return "conference id: 4–8 digits"
	case contract.KindCallID:
		return "call id: 32 letters or digits"
	case contract.KindNumbers:
		return "phone numbers joined by '#'"
	case contract.KindInt:
		return "integer ≥ 1"
	case contract.KindKey:
		return "idempotency key: 1–128 printable ASCII characters, no spaces"
	case contract.KindSeq:
		return "event seq ≥ 0"
	case contract.KindToken:
		return "connection token (a JWT)"
	}
	panic(fmt.Sprintf("jsgen: param kind %d has no description", k))
}

// block lays out fields one per line, or {} when there are none.
func block(fields []string, indent, closing string) string {
	if len(fields) == 0 {
		return ""
	}
	return "\n" + indent + strings.Join(fields, ";\n"+indent) + ";\n" + closing
}

func publicMethods() []contract.Method {
	var ms []contract.Method
	for _, m := range contract.MethodTable {
		if !m.Internal {
			ms = append(ms, m)
		}
	}
	return ms
}

func closeCodes() []int {
	var cs []int
	for c := range contract.Closes {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs
}

// pascal turns snake_case into PascalCase: conf_not_found → ConfNotFound.
func pascal(s string) string {
	parts := strings.Split(s, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
