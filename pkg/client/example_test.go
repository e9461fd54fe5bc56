package client_test

import (
	"context"
	"fmt"
	"log"

	"confapplet/pkg/client"
)

// A page's life in Go: connect (reconnecting, two edges), create a
// conference, invite a number, and follow its events.
func Example() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://127.0.0.1:8080", "tab-3f9a1c",
		client.WithURLs("ws://127.0.0.1:8090"), client.WithReconnect())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	conf, err := c.CreateConf(ctx)
	if err != nil {
		log.Fatal(err)
	}
	callid, err := c.InviteJoinConfWith(ctx, client.InviteParams{ConfID: conf, Number: "13800138000", IdempotencyKey: "invite-1"})
	if err != nil {
		log.Fatal(err)
	}
	for n := range c.Notifications() {
		fmt.Println(n.Method, n.ConfID, n.Seq, string(n.Params))
		if n.Method == "OnConfInviteJoin" {
			_ = c.QuitConf(ctx, conf, callid)
		}
		if n.Method == "OnConfDel" {
			break
		}
	}
}
