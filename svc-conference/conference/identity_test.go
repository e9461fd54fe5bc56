package conference

import (
	"testing"

	"confapplet/pkg/contract"
)

// The identity the edge takes from a verified connection token: a watch
// grant lets a client read and watch a conference it does not own, never
// act on it; the operator role lets it do everything. Without them the
// reads are forbidden (the inline read path included).
func TestTokenGrantsAndRole(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	confID := e.create("alice", 5)
	other := e.create("alice", 5)
	conf := contract.ConfRequest{ConfID: confID}
	for _, m := range []string{contract.MethodGetConf, contract.MethodAuthorizeWatch} {
		e.fails(contract.CodeForbidden, m, hdr("mallory"), conf)
		e.fails(contract.CodeForbidden, m, hdr("mallory", contract.HeaderWatch, other), conf)
		e.fails(contract.CodeForbidden, m, hdr("mallory", contract.HeaderRole, "admin"), conf)
		if _, cerr := e.call(m, hdr("viewer", contract.HeaderWatch, other+","+confID), conf); cerr != nil {
			t.Fatalf("%s with a watch grant: %v", m, cerr)
		}
	}
	viewer := hdr("viewer", contract.HeaderWatch, confID)
	e.fails(contract.CodeForbidden, contract.MethodDismissConf, viewer, conf)
	e.fails(contract.CodeForbidden, contract.MethodInviteJoinConf, viewer, contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345678"})
	if n := len(e.sim.Calls()); n != 0 {
		t.Fatalf("a watch grant dialled: %d calls", n)
	}
	op := hdr("ops", contract.HeaderRole, contract.RoleOperator)
	if _, cerr := e.call(contract.MethodInviteJoinConf, op, contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345678"}); cerr != nil {
		t.Fatalf("operator role invite: %v", cerr)
	}
	if _, cerr := e.call(contract.MethodGetConf, op, conf); cerr != nil {
		t.Fatalf("operator role read: %v", cerr)
	}
}
