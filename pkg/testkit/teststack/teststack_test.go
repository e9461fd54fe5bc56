package teststack

import (
	"testing"

	"confapplet/pkg/ytxsim"
)

func TestPlatformVersionIsTheSimulators(t *testing.T) {
	if platformVersion != ytxsim.Version {
		t.Fatalf("platformVersion %q, the simulator serves %q", platformVersion, ytxsim.Version)
	}
}

func TestInstanceNames(t *testing.T) {
	if got := instance("svc-edge", 0, 1); got != "svc-edge" {
		t.Errorf("alone: %q", got)
	}
	if got := instance("svc-edge", 1, 2); got != "svc-edge-2" {
		t.Errorf("second of two: %q", got)
	}
}
