// Command local runs the whole of confapplet in one process for development:
// an embedded NATS server with JetStream, svc-conference, svc-callback,
// svc-edge (serving the page on http://localhost:8080) and the Yuntongxun
// simulator (or the real platform when YTX_* credentials are set).
//
//	go run ./deploy/local            # data in ./data, Ctrl-C stops it
//	go run ./deploy/local -temp      # a throw-away store
//	go run ./deploy/local -h         # every flag
package main

import "confapplet/pkg/svc"

func main() { svc.Main("local", run) }
