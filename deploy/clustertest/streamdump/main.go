// Command streamdump prints, as JSON, the seq of every stored event of the
// conferences named on its command line ({"<confid>": [1, 2, …]}). The
// container fault test (deploy/clustertest/docker_test.go) runs it in a
// container on the compose network, where the NATS cluster is reachable.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"confapplet/deploy/clustertest/streamseqs"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "streamdump:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("streamdump", flag.ContinueOnError)
	url := fs.String("nats", "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", "NATS servers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	nc, err := nats.Connect(*url, nats.Name("streamdump"))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	out := map[string][]uint64{}
	for _, id := range fs.Args() {
		seqs, err := streamseqs.Read(ctx, js, id)
		if err != nil {
			return err
		}
		out[id] = seqs
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
