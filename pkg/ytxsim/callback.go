package ytxsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// CallbackFormat is the envelope of callbacks. The platform's envelope for
// conference callbacks is not documented, so each plausible
// variant can be produced; receivers must accept all of them.
type CallbackFormat string

const (
	// FormatXMLLowerText is the one envelope verified for a Yuntongxun push
	// we know of: root <request>, Content-Type text/plain. Default.
	FormatXMLLowerText CallbackFormat = "xml-lower-text"
	// FormatXML: root <Request>, application/xml, by analogy with the
	// request bodies.
	FormatXML CallbackFormat = "xml"
	// FormatXMLText: root <Request>, text/plain.
	FormatXMLText CallbackFormat = "xml-text"
	// FormatXMLLower: root <request>, application/xml.
	FormatXMLLower CallbackFormat = "xml-lower"
	// FormatForm: application/x-www-form-urlencoded fields, as one Java
	// receiver of the platform's pushes reads them.
	FormatForm CallbackFormat = "form"

	FormatDefault = FormatXMLLowerText
)

// CallbackFormats lists every format.
var CallbackFormats = []CallbackFormat{FormatXMLLowerText, FormatXML, FormatXMLText, FormatXMLLower, FormatForm}

// ParseCallbackFormat checks a format name; "" is the default.
func ParseCallbackFormat(s string) (CallbackFormat, error) {
	if s == "" {
		return FormatDefault, nil
	}
	for _, f := range CallbackFormats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown callback format %q (want one of %v)", s, CallbackFormats)
}

// kv is one callback field; fields keep their order on the wire.
type kv struct{ k, v string }

// Encode renders fields in format f: the body and its Content-Type.
func (f CallbackFormat) encode(fields []kv) ([]byte, string) {
	if f == FormatForm {
		var b strings.Builder
		for i, x := range fields {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(x.k) + "=" + url.QueryEscape(x.v))
		}
		return []byte(b.String()), "application/x-www-form-urlencoded"
	}
	root, ct := "Request", "application/xml;charset=utf-8"
	switch f {
	case FormatXMLLowerText:
		root, ct = "request", "text/plain;charset=utf-8"
	case FormatXMLText:
		ct = "text/plain;charset=utf-8"
	case FormatXMLLower:
		root = "request"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><` + root + `>`)
	for _, x := range fields {
		b.WriteString("<" + x.k + ">")
		xml.EscapeText(&b, []byte(x.v))
		b.WriteString("</" + x.k + ">")
	}
	b.WriteString(`</` + root + `>`)
	return b.Bytes(), ct
}

// JoinNotifyURL joins the notification address and a command's relative
// URL: the base loses its trailing "/" and the relative URL gets a leading
// one. An absolute relative URL (http://…) is used as it is.
func JoinNotifyURL(base, rel string) string {
	if strings.HasPrefix(rel, "http://") || strings.HasPrefix(rel, "https://") {
		return rel
	}
	base = strings.TrimRight(base, "/")
	if !strings.HasPrefix(rel, "/") {
		rel = "/" + rel
	}
	return base + rel
}

// queue is one conference's callback queue: deliveries go one at a time,
// in order, so a conference's callbacks stay causal even when one has to be
// retried.
type queue struct {
	items []*pending
	busy  bool // a delivery or its retry wait is in progress
}

type pending struct {
	confID, kind, url, ctype string
	body                     []byte // encoded once: a retry sends identical bytes
	attempt                  int
}

// notify queues a callback to the relative URL rel; nothing when rel or the
// notification address is empty. s.mu is held.
func (s *Sim) notify(confID, rel, kind string, fields ...kv) {
	if rel == "" || s.cfg.NotifyBaseURL == "" || s.closed {
		return
	}
	for i := range fields {
		if fields[i].k == "callSid" {
			fields[i].k = s.cfg.CallIDField
		}
	}
	body, ct := s.cfg.Format.encode(fields)
	q := s.queues[confID]
	if q == nil {
		q = &queue{}
		s.queues[confID] = q
	}
	q.items = append(q.items, &pending{confID: confID, kind: kind, url: JoinNotifyURL(s.cfg.NotifyBaseURL, rel), ctype: ct, body: body})
	s.kick(confID, q)
}

// kick starts delivering q's head unless a delivery is in progress; s.mu
// is held.
func (s *Sim) kick(confID string, q *queue) {
	if q.busy || s.closed {
		return
	}
	if len(q.items) == 0 {
		delete(s.queues, confID)
		return
	}
	q.busy = true
	p := q.items[0]
	p.attempt++
	s.wg.Add(1)
	go s.deliver(q, p)
}

// deliver POSTs one callback and decides what comes next.
func (s *Sim) deliver(q *queue, p *pending) {
	defer s.wg.Done()
	status, err := s.post(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Delivery{ConfID: p.confID, Kind: p.kind, URL: p.url, Body: string(p.body), Attempt: p.attempt, Status: status}
	if err != nil {
		d.Err = err.Error()
	}
	s.delivered = trimLog(append(s.delivered, d), s.cfg.LogLimit)
	if s.closed {
		return
	}
	ok := err == nil && status >= 200 && status < 300
	if !ok && p.attempt <= s.cfg.Retries {
		wait := s.cfg.RetryBackoff << (p.attempt - 1)
		s.log.Warn().Str("conf_id", p.confID).Str("kind", p.kind).Int("attempt", p.attempt).
			Int("status", status).AnErr("error", err).Dur("retry_in", wait).Msg("callback failed, retrying")
		s.after(wait, func() {
			q.busy = false
			s.kick(p.confID, q)
		})
		return
	}
	if !ok {
		s.log.Error().Str("conf_id", p.confID).Str("kind", p.kind).Int("attempts", p.attempt).
			Int("status", status).AnErr("error", err).Msg("callback dropped after retries")
	}
	q.items = q.items[1:]
	q.busy = false
	s.kick(p.confID, q)
}

func (s *Sim) post(p *pending) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return 0, fmt.Errorf("build callback request: %w", err)
	}
	req.Header.Set("Content-Type", p.ctype)
	req.Header.Set("User-Agent", "ytxsim/1")
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain a little so the connection can be reused; the answer's content
	// does not matter for a status notification.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliveryIdle reports whether no callback is queued; for tests.
func (s *Sim) deliveryIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues) == 0
}
