package edge

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"confapplet/pkg/svc"
	"confapplet/svc-edge/web"
)

// routes is every route of the public listener: the WebSocket endpoint,
// the page and the probes. Metrics are on the ops listener only (OpsHandler).
func (srv *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client/{client_id}", srv.serveWS)
	srv.ops().Probes(mux)
	mux.Handle("GET /", http.FileServerFS(page()))
	return mux
}

// OpsHandler serves /healthz, /readyz and /metrics (the ops listener).
func (srv *Server) OpsHandler() http.Handler { return srv.ops().Handler() }

func (srv *Server) ops() svc.Ops {
	return svc.Ops{Ready: srv.ready, Registry: srv.metrics.reg}
}

// ready is nil while NATS is connected and the edge is not shutting down.
func (srv *Server) ready(context.Context) error {
	srv.mu.Lock()
	closing := srv.closing
	srv.mu.Unlock()
	switch {
	case closing:
		return errors.New("shutting down")
	case !srv.nc.IsConnected():
		return errors.New("NATS disconnected")
	}
	return nil
}

// page is the browser page (package web).
func page() fs.FS { return web.FS }
