package edge

import (
	"testing"
	"time"
)

// counterValue reads one labelled counter from the edge's registry.
func counterValue(t testing.TB, srv *Server, name, label string) float64 {
	t.Helper()
	mfs, err := srv.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// The event lag is observed once per event read: it must not allocate, and
// an event whose read carried no stored time is not counted.
func TestEventLagObservedWithoutAllocation(t *testing.T) {
	m := newMetrics()
	stored := time.Now().Add(-30 * time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() { m.observeLag(stored) }); n != 0 {
		t.Errorf("observeLag allocates %v times per event", n)
	}
	m.observeLag(time.Time{})
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "confapplet_edge_event_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 1001 || h.GetSampleSum() < 1001*0.03 {
			t.Errorf("lag histogram: %d samples, sum %v; want 1001 of at least 30 ms", h.GetSampleCount(), h.GetSampleSum())
		}
		return
	}
	t.Fatal("confapplet_edge_event_lag_seconds not registered")
}
