package edge

import (
	"testing"

	"confapplet/pkg/svc"
)

// TestConfigDoc: CONFIG.md's settings table is the one the flag
// declarations render (UPDATE_DOCS=1 rewrites it).
func TestConfigDoc(t *testing.T) {
	c := DefaultConfig()
	f, _, _ := c.flags()
	if err := svc.CheckDoc("../CONFIG.md", f.Table()); err != nil {
		t.Fatal(err)
	}
}
