// Command svc-conference runs the conference service (see package
// confapplet/svc-conference/conference and CONFIG.md).
package main

import (
	_ "time/tzdata" // the platform's time zone, also where the host has none

	"confapplet/pkg/svc"
	"confapplet/svc-conference/conference"
)

func main() { svc.Main("svc-conference", conference.Run) }
