package svc

import (
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// pprofHandler serves Go's profiles (setting -pprof, off by default):
//
//	/debug/pprof/profile?seconds=N   CPU profile (default 30 s, at most 5 min)
//	/debug/pprof/<name>?debug=N      heap, allocs, goroutine, mutex, block, threadcreate
//
// Process.ServePprof puts it on a listener of its own, never a service
// port. net/http/pprof is not imported, as it registers on
// http.DefaultServeMux for the whole process (the local stack runs every
// service in one).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		if secs <= 0 {
			secs = 30
		}
		secs = min(secs, 300)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("GET /debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("name"))
		if p == nil {
			var names []string
			for _, p := range pprof.Profiles() {
				names = append(names, p.Name())
			}
			http.Error(w, "unknown profile; have: profile "+strings.Join(names, " "), http.StatusNotFound)
			return
		}
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if debug > 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		_ = p.WriteTo(w, debug)
	})
	return mux
}
