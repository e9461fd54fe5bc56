// Command svc-callback is the HTTP endpoint the telephony platform calls
// back; see package confapplet/svc-callback/callback and CONFIG.md.
package main

import (
	"confapplet/pkg/svc"
	"confapplet/svc-callback/callback"
)

func main() { svc.Main("svc-callback", callback.Run) }
