package callback

import (
	"bytes"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// parseRequest reads a callback's fields from its body and its query
// string, liberally where that is safe: any method's query parameters, a
// form, XML or JSON body with any root, and bodies in GBK or GB18030
// (declared by the Content-Type charset or the XML declaration, or simply
// not valid UTF-8). A field given in both with different values is an error.
func parseRequest(rawQuery, contentType string, body []byte) (fields, error) {
	body, err := toUTF8(body, contentType)
	if err != nil {
		return nil, err
	}
	var f fields
	if len(bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))) > 0 {
		if f, err = parseBody(body); err != nil {
			return nil, err
		}
	} else {
		f = fields{}
	}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, badBody("query: %v", err)
		}
		for k, vs := range q {
			for _, v := range vs {
				if err := f.set(k, gbkValue(v)); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(f) == 0 {
		return nil, badBody("no fields in the body or the query")
	}
	return f, nil
}

// toUTF8 converts a GBK/GB18030 body to UTF-8. GB18030 is a superset of GBK
// and GB2312, so one decoder serves all three names.
func toUTF8(body []byte, contentType string) ([]byte, error) {
	cs := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		cs = strings.ToLower(params["charset"])
	}
	if cs == "" {
		cs = xmlEncoding(body)
	}
	// GB18030 decodes GBK and GB2312 too.
	var enc encoding.Encoding = simplifiedchinese.GB18030
	switch {
	case isGB(cs):
	case cs == "" || cs == "utf-8" || cs == "utf8" || cs == "us-ascii":
		if utf8.Valid(body) {
			return body, nil
		}
		// Undeclared and not UTF-8: the platform's other encoding.
	case isLatin1(cs):
		// Java HTTP clients label string bodies ISO-8859-1 by default,
		// whatever bytes they hold: UTF-8 (ASCII included) is taken as it is.
		if utf8.Valid(body) {
			return body, nil
		}
		enc = charmap.Windows1252
	default:
		return nil, badBody("unsupported charset %q", cs)
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, badBody("charset %s: %v", cs, err)
	}
	return out, nil
}

func isLatin1(cs string) bool {
	switch cs {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp1252", "windows-1252":
		return true
	}
	return false
}

func isGB(cs string) bool {
	switch cs {
	case "gbk", "gb2312", "gb18030", "cp936", "x-gbk", "windows-936":
		return true
	}
	return false
}

// gbkValue decodes a form or query value whose percent-escapes carried GBK
// bytes; a value that is valid UTF-8 is returned as it is.
func gbkValue(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	if out, err := simplifiedchinese.GB18030.NewDecoder().String(v); err == nil {
		return out
	}
	return v
}

// xmlEncoding returns the lower-cased encoding of an XML declaration at the
// start of body, "" if none.
func xmlEncoding(body []byte) string {
	b := bytes.TrimLeft(body, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := string(b[:end])
	i := strings.Index(decl, "encoding=")
	if i < 0 {
		return ""
	}
	v := decl[i+len("encoding="):]
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return ""
	}
	q := v[0]
	v = v[1:]
	if j := strings.IndexByte(v, q); j >= 0 {
		return strings.ToLower(v[:j])
	}
	return ""
}
