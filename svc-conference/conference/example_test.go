package conference_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/natsembed"
	"confapplet/pkg/ytxsim"
	"confapplet/svc-conference/conference"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// The service in process, as the local stack and the end-to-end tests run
// it: embedded NATS, the simulator on an httptest server, the real client.
func ExampleNew() {
	ns, _ := natsembed.Start(natsembed.Options{})
	defer ns.Shutdown()
	sim := ytxsim.New(ytxsim.Config{}) // NotifyBaseURL "": no callbacks
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	cfg := conference.DefaultConfig() // the simulator's default credentials
	cfg.HTTPAddr = ""                 // no ops HTTP (use svc.OpsHandler())
	cfg.YTXBaseURL = srv.URL + "/" + ytxsim.Version
	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()
	p, _ := conference.NewYTX(cfg, nil)
	svc, err := conference.New(cfg, nc, p, zerolog.Nop())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Stop()

	// What the edge sends: the body, the client id header, a deadline.
	call := func(method string, body any) *nats.Msg {
		b, _ := json.Marshal(body)
		m := nats.NewMsg(contract.ServiceSubject(method))
		m.Data = b
		m.Header.Set(contract.HeaderClientID, "alice")
		m.Header.Set(contract.HeaderDeadline, fmt.Sprint(time.Now().Add(5*time.Second).UnixMilli()))
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			panic(err)
		}
		return reply
	}
	var confID string
	_ = json.Unmarshal(call(contract.MethodCreateConf, contract.CreateConfRequest{MaxMember: 5}).Data, &confID)
	fmt.Println(string(call(contract.MethodQueryConfState, contract.ConfRequest{ConfID: confID}).Data))
	refused := call(contract.MethodInviteJoinConf, contract.InviteJoinConfRequest{ConfID: confID, Number: "4008123123"})
	fmt.Println(refused.Header.Get("Nats-Service-Error-Code"), string(refused.Data))
	// Output:
	// {"state":0,"count":0}
	// number_not_allowed {"number":"4008123123"}
}
