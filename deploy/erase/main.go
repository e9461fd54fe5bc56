// Command erase removes one person's phone number, or one conference, from
// everything confapplet stores in NATS (the events stream, the conference
// records, the owner index, the idempotency records) and reports what it
// removed. docs/operations.md, "Personal data", says when and how to run it.
//
//	go run ./deploy/erase -nats nats://127.0.0.1:4222 -number 13800138005
//	go run ./deploy/erase -conf 12345678
package main

import "confapplet/pkg/svc"

func main() { svc.Main("erase", run) }
