package svc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	port := addr[strings.LastIndex(addr, ":"):]
	ctx := context.Background()
	if err := Healthcheck(ctx, addr); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	if err := Healthcheck(ctx, port); err != nil {
		t.Errorf("wildcard host %q: %v", port, err)
	}
	status = http.StatusServiceUnavailable
	if err := Healthcheck(ctx, addr); err == nil {
		t.Error("503 counted as healthy")
	}
	srv.Close()
	if err := Healthcheck(ctx, addr); err == nil {
		t.Error("closed server counted as healthy")
	}
	if err := Healthcheck(ctx, "no-port"); err == nil {
		t.Error("bad address accepted")
	}
}
