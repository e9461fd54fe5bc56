package yuntongxun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestCommandSpans: inside a recorded span, each command gets a client
// span, child of it, with the command, the HTTP status and the platform's
// statusCode, and nothing of the URL (sig), the body (numbers) or the
// credentials; no trace context is sent to the platform. Without a
// recorded span there is none.
func TestCommandSpans(t *testing.T) {
	var traceHeaders []string
	status := "000000"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceHeaders = append(traceHeaders, r.Header.Get("traceparent")+r.Header.Get("tracestate"))
		xmlReply(`<statusCode>`+status+`</statusCode><callSid>0123456789abcdef0123456789abcdef</callSid>`)(w, r)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/2013-12-26", nil)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "conference InviteJoinConf")

	if _, err := c.InviteJoinConf(ctx, "12345678", "13800138005", InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	status = "111705"
	if _, err := c.InviteJoinConf(ctx, "12345678", "13800138005", InviteOptions{}); err == nil {
		t.Fatal("no error for statusCode 111705")
	}
	if _, err := c.InviteJoinConf(context.Background(), "12345678", "13800138005", InviteOptions{}); err == nil {
		t.Fatal("no error for statusCode 111705")
	}
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 2 commands and their parent", len(spans))
	}
	for i, want := range []string{"000000", "111705"} {
		s := spans[i]
		if s.Name != "yuntongxun InviteJoinConf" || s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %s, parent %v", i, s.Name, s.Parent.SpanID())
		}
		got := map[string]string{}
		for _, a := range s.Attributes {
			got[string(a.Key)] = a.Value.Emit()
			for _, secret := range []string{"138", testToken, testSID, "sig"} {
				if strings.Contains(a.Value.Emit(), secret) {
					t.Errorf("span %d: attribute %s = %q holds %q", i, a.Key, a.Value.Emit(), secret)
				}
			}
		}
		if got["confapplet.platform.command"] != CmdInviteJoinConf || got["http.response.status_code"] != "200" || got["confapplet.platform.status_code"] != want {
			t.Errorf("span %d: attributes %v", i, got)
		}
	}
	if spans[1].Status.Description != "statusCode 111705" {
		t.Errorf("refused command's status: %+v", spans[1].Status)
	}
	for _, h := range traceHeaders {
		if h != "" {
			t.Errorf("trace context sent to the platform: %q", h)
		}
	}
}
