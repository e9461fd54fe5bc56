package ytxsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// serveControl serves the control API, which is the simulator's own and not
// part of the platform:
//
//	POST /_sim/hangup?callid=…          a member hangs up (or refuses while ringing)
//	GET  /_sim/confs                    live conferences with their members
//	GET  /_sim/calls                    the call log (every dialled number)
//	GET  /_sim/deliveries               every callback delivery attempt
//	GET  /_sim/rules, PUT /_sim/rules   call-progress rules (JSON array)
//	PUT  /_sim/latency?d=50ms[&tail=2s&ratio=0.01]  answer latency
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sim/hangup":
		if !method(w, r, http.MethodPost) {
			return
		}
		if err := s.Hangup(r.URL.Query().Get("callid")); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, ErrUnknownCall) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "/_sim/confs":
		if method(w, r, http.MethodGet) {
			writeJSON(w, s.Conferences())
		}
	case "/_sim/calls":
		if method(w, r, http.MethodGet) {
			writeJSON(w, s.Calls())
		}
	case "/_sim/deliveries":
		if method(w, r, http.MethodGet) {
			writeJSON(w, s.Deliveries())
		}
	case "/_sim/rules":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, s.Rules())
		case http.MethodPut:
			var rules []Rule
			dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rules); err != nil {
				http.Error(w, "rules: "+err.Error(), http.StatusBadRequest)
				return
			}
			if err := s.SetRules(rules); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeJSON(w, s.Rules())
		default:
			method(w, r, http.MethodGet, http.MethodPut)
		}
	case "/_sim/latency":
		if !method(w, r, http.MethodPut) {
			return
		}
		q := r.URL.Query()
		d, err := time.ParseDuration(q.Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "d: want a duration like 50ms", http.StatusBadRequest)
			return
		}
		var tail time.Duration
		var ratio float64
		if v := q.Get("tail"); v != "" {
			if tail, err = time.ParseDuration(v); err != nil || tail < 0 {
				http.Error(w, "tail: want a duration like 2s", http.StatusBadRequest)
				return
			}
			ratio = 0.01
			if v := q.Get("ratio"); v != "" {
				if ratio, err = strconv.ParseFloat(v, 64); err != nil || ratio < 0 || ratio > 1 {
					http.Error(w, "ratio: want 0..1", http.StatusBadRequest)
					return
				}
			}
		}
		s.SetLatencyTail(d, tail, ratio)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// method answers 405 unless r uses one of allowed.
func method(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for _, m := range allowed {
		if r.Method == m {
			return true
		}
	}
	for _, m := range allowed {
		w.Header().Add("Allow", m)
	}
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
