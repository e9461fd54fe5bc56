package conference

import (
	"testing"

	"confapplet/pkg/contract"
)

// Every method the table gives to the conference service has a handler,
// every handler is such a method, and the inline paths are the methods the
// table marks Inline.
func TestEveryMethodHasAHandler(t *testing.T) {
	handlers := (&Service{}).handlers()
	served := 0
	for _, m := range contract.MethodTable {
		_, handled := handlers[m.Name]
		if (m.Server == contract.ServedByConference) != handled {
			t.Errorf("%s: served by %d, handler %v", m.Name, m.Server, handled)
		}
		if _, inline := inlineReads[m.Name]; inline != m.Inline {
			t.Errorf("%s: inline %v in the table, inline path %v", m.Name, m.Inline, inline)
		}
		if handled {
			served++
		}
	}
	if served != len(handlers) {
		t.Errorf("%d handlers, %d methods served by the conference service", len(handlers), served)
	}
}
