// Command svc-edge serves browsers' WebSocket JSON-RPC and fans conference
// events out to them. Settings: svc-edge/CONFIG.md.
package main

import (
	"confapplet/pkg/svc"
	"confapplet/svc-edge/edge"
)

func main() { svc.Main("svc-edge", edge.Run) }
