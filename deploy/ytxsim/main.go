// Command ytxsim serves the Yuntongxun platform simulator (confapplet/pkg/ytxsim)
// on :8883. Configuration: `ytxsim -h`, and docs/yuntongxun.md.
package main

import (
	_ "time/tzdata" // callback times are in Asia/Shanghai even on hosts without zoneinfo

	"confapplet/pkg/svc"
	"confapplet/pkg/ytxsim"
)

func main() { svc.Main("ytxsim", ytxsim.Run) }
