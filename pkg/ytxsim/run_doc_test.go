package ytxsim

import (
	"testing"

	"confapplet/pkg/svc"
)

// TestRunDoc: docs/yuntongxun.md's settings table is the one the flag
// declarations render (UPDATE_DOCS=1 rewrites it).
func TestRunDoc(t *testing.T) {
	c := defaultRunConfig()
	if err := svc.CheckDoc("../../docs/yuntongxun.md", c.flags().Table()); err != nil {
		t.Fatal(err)
	}
}
