package yuntongxun

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// fields are the leaf values of a response, by lower-case name. Names are
// folded because the sources disagree on case (statusCode vs statuscode,
// callSid vs callsid, orderId vs orderid).
type fields map[string]string

func (f fields) get(name string) (string, bool) {
	v, ok := f[name]
	return v, ok
}

// first returns the first of names present.
func (f fields) first(names ...string) string {
	for _, n := range names {
		if v, ok := f[n]; ok {
			return v
		}
	}
	return ""
}

// parseResponse reads an answer as JSON when its Content-Type says so, as
// XML otherwise; with no Content-Type it looks at the first byte. Nested
// elements or objects are flattened; the shallowest occurrence of a name wins.
func parseResponse(contentType string, body []byte) (fields, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body")
	}
	isJSON := strings.Contains(strings.ToLower(contentType), "json")
	if contentType == "" {
		isJSON = trimmed[0] == '{'
	}
	if isJSON {
		return parseJSON(trimmed)
	}
	return parseXML(trimmed)
}

func parseJSON(body []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	f := fields{}
	flattenJSON(f, m, 0)
	return f, nil
}

func flattenJSON(f fields, m map[string]any, depth int) {
	if depth > 4 {
		return
	}
	var nested []map[string]any
	for k, v := range m {
		k = strings.ToLower(k)
		switch v := v.(type) {
		case string:
			setOnce(f, k, v)
		case json.Number:
			setOnce(f, k, v.String())
		case bool:
			setOnce(f, k, fmt.Sprint(v))
		case map[string]any:
			nested = append(nested, v)
		}
	}
	// Children after all of this level's values, so the shallowest wins.
	for _, n := range nested {
		flattenJSON(f, n, depth+1)
	}
}

func setOnce(f fields, k, v string) {
	if _, ok := f[k]; !ok {
		f[k] = v
	}
}

func parseXML(body []byte) (fields, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	// The platform declares UTF-8; accept any declared charset as such
	// rather than failing on, say, "utf8" spelled oddly.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	f := fields{}
	type open struct {
		name  string
		text  strings.Builder
		child bool
	}
	var stack []*open
	depthOf := map[string]int{}
	sawRoot := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decode XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if sawRoot {
					return nil, errors.New("decode XML: more than one root element")
				}
				sawRoot = true
			} else {
				stack[len(stack)-1].child = true
			}
			stack = append(stack, &open{name: strings.ToLower(t.Name.Local)})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !top.child {
				d, seen := depthOf[top.name]
				if !seen || len(stack) < d {
					f[top.name] = strings.TrimSpace(top.text.String())
					depthOf[top.name] = len(stack)
				}
			}
		}
	}
	if !sawRoot {
		return nil, errors.New("decode XML: no root element")
	}
	return f, nil
}
