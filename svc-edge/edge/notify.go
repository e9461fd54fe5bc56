package edge

import (
	"encoding/json"
	"strconv"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"
)

// appendNotification appends the JSON-RPC notification of e, the same
// JSON as contract.Event.Notification's method and params would make
// (TestAppendNotificationMatchesContract), written field by field: the
// edge encodes every stored event once, and the map, its boxed values and
// encoding/json's key sorting were most of that cost. A media event,
// whose params carry the platform's own fields, goes the map's way.
func appendNotification(dst []byte, e *contract.Event) ([]byte, error) {
	str := func(dst []byte, key, v string) []byte {
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		return jsonrpc.AppendString(dst, v)
	}
	num := func(dst []byte, key string, v int) []byte {
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		return strconv.AppendInt(dst, int64(v), 10)
	}
	var method string
	switch e.Kind {
	case contract.KindCreated:
		method = contract.NotifyCreate
	case contract.KindInvite, contract.KindJoined:
		method = contract.NotifyInviteJoin
	case contract.KindQuit:
		method = contract.NotifyQuit
	case contract.KindDeleted:
		method = contract.NotifyDel
	case contract.KindDismissed:
		method = contract.NotifyDismiss
	default:
		method, params := e.Notification()
		p, err := json.Marshal(params)
		if err != nil {
			return dst, err
		}
		return jsonrpc.AppendNotification(dst, method, p), nil
	}
	dst = append(dst, `{"jsonrpc":"2.0","method":`...)
	dst = jsonrpc.AppendString(dst, method)
	dst = append(dst, `,"params":{"confid":`...)
	dst = jsonrpc.AppendString(dst, e.ConfID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	switch e.Kind {
	case contract.KindCreated:
		dst = str(dst, "callid", e.CallID)
		dst = str(dst, "createtime", e.Time)
	case contract.KindInvite, contract.KindJoined:
		dst = str(dst, "callid", e.CallID)
		dst = str(dst, "number", e.Number)
		dst = str(dst, "jointime", e.Time)
		dst = str(dst, "outcome", contract.InviteOutcome(e.Result))
		result := contract.ResultPending
		if e.Result != nil {
			result = *e.Result
		}
		dst = num(dst, "result", result)
	case contract.KindQuit:
		dst = str(dst, "callid", e.CallID)
		dst = str(dst, "number", e.Number)
		dst = str(dst, "jointime", e.Time)
	case contract.KindDeleted:
		dst = str(dst, "deltime", e.Time)
	case contract.KindDismissed:
		status := 0
		if e.Status != nil {
			status = *e.Status
		}
		dst = num(dst, "status", status)
	}
	return append(dst, '}', '}'), nil
}
