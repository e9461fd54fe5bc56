package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
)

// startSession runs first in a session's queue: it watches every live
// conference the client owns (conference.ListOwned), each from its resume
// seq, and the other conferences named in resume if the service allows;
// one of those that has ended is replayed up to its end (watchEnded).
func (srv *Server) startSession(s *session, resume map[string]uint64) {
	reqID := s.connID + "-0"
	res, rerr := srv.request(context.Background(), s, contract.MethodListOwned, []byte("{}"), reqID)
	var owned []string
	if rerr != nil {
		s.logWarn().Str(logging.Method, contract.MethodListOwned).Int("code", rerr.Code).Msg(rerr.Message)
	} else if err := json.Unmarshal(res, &owned); err != nil {
		s.logWarn().Err(err).Msg("ListOwned: bad reply")
	}
	seen := map[string]bool{}
	for _, id := range owned {
		if contract.ValidConfID(id) && !seen[id] {
			seen[id] = true
			s.watch(id, resume[id], true)
		}
	}
	for id, since := range resume {
		if seen[id] {
			continue
		}
		res, rerr := srv.request(context.Background(), s, contract.MethodAuthorizeWatch, []byte(`{"confid":"`+id+`"}`), reqID)
		switch {
		case rerr != nil:
			s.logInfo().Str(logging.ConfID, id).Int("code", rerr.Code).Msg("resume: not watching")
		case endedWatch(res):
			s.watchEnded(id, since, true)
		default:
			s.watch(id, since, true)
		}
	}
}

// parseResume reads "confid:seq,confid:seq".
func parseResume(v string) (map[string]uint64, error) {
	if v == "" {
		return nil, nil
	}
	m := map[string]uint64{}
	for item := range strings.SplitSeq(v, ",") {
		id, seqStr, ok := strings.Cut(item, ":")
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if !ok || err != nil || !contract.ValidConfID(id) {
			return nil, fmt.Errorf("resume: %q is not confid:seq", item)
		}
		if len(m) >= 256 {
			return nil, errors.New("resume: too many conferences")
		}
		m[id] = seq
	}
	return m, nil
}
