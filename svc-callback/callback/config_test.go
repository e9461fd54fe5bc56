package callback

import (
	"testing"

	"confapplet/pkg/svc"
)

// TestConfigDoc: CONFIG.md's settings table is the one the flag
// declarations render (UPDATE_DOCS=1 rewrites it).
func TestConfigDoc(t *testing.T) {
	c := DefaultConfig()
	o := defaultOptions(c)
	if err := svc.CheckDoc("../CONFIG.md", c.flags(&o).Table()); err != nil {
		t.Fatal(err)
	}
}
