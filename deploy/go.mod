module confapplet/deploy

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/prometheus/client_golang v1.25.0
	github.com/rs/zerolog v1.35.1
)

require (
	confapplet/pkg v0.0.0
	confapplet/svc-callback v0.0.0
	confapplet/svc-conference v0.0.0
	confapplet/svc-edge v0.0.0
)

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

replace (
	confapplet/pkg => ../pkg
	confapplet/svc-callback => ../svc-callback
	confapplet/svc-conference => ../svc-conference
	confapplet/svc-edge => ../svc-edge
)
