package edge

import (
	"testing"

	"confapplet/pkg/contract"
)

// Every method a browser may call has an edge handler, and every handler
// of the edge's own is a method the table gives to the edge.
func TestEveryMethodHasAHandler(t *testing.T) {
	for _, m := range contract.MethodTable {
		if _, dispatched := handlers[m.Name]; dispatched == m.Internal {
			t.Errorf("%s: internal %v, dispatched %v", m.Name, m.Internal, dispatched)
		}
		if !m.Internal && handlers[m.Name] == nil {
			t.Errorf("%s: no handler", m.Name)
		}
	}
	for name := range edgeHandlers {
		if m, ok := contract.Methods[name]; !ok || m.Server != contract.ServedByEdge {
			t.Errorf("edge handler %s: not a method the table gives to the edge", name)
		}
	}
	if len(handlers) != len(contract.Methods) {
		t.Errorf("%d handlers for %d methods", len(handlers), len(contract.Methods))
	}
}
