// Command token mints a connection token (a JWT, docs/protocol.md §1.2a) for
// development and tests:
//
//	EDGE_AUTH_SECRET=… go run ./deploy/token -client alice
//	go run ./deploy/token -client ops -operator -key ec-private.pem -kid k1
//
// It prints the token on stdout. Production tokens come from the
// application's own back end, which signs them with any JWT library.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/token"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "token:", err)
		os.Exit(2)
	}
}

func run(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	client := fs.String("client", "", "client id (the sub claim); required")
	secret := fs.String("secret", getenv("EDGE_AUTH_SECRET"), "HS256 secret (EDGE_AUTH_SECRET)")
	keyFile := fs.String("key", "", "PEM file of an RSA or P-256 private key (RS256/ES256) instead of -secret")
	kid := fs.String("kid", "", "key id in the header (JWKS)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (exp = now + ttl); the edge refuses more than its -auth-max-lifetime (24h)")
	operator := fs.Bool("operator", false, "operator role")
	watch := fs.String("watch", "", "comma-separated confids the client may watch without owning them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !contract.ClientIDPattern.MatchString(*client) {
		return errors.New("-client: 1-64 characters of A-Z a-z 0-9 _ - required")
	}
	if *ttl <= 0 {
		return errors.New("-ttl must be > 0")
	}
	c := token.New(*client, time.Now(), *ttl)
	if *operator {
		c.Role = token.RoleOperator
	}
	if *watch != "" {
		for id := range strings.SplitSeq(*watch, ",") {
			if !contract.ConfIDPattern.MatchString(id) {
				return fmt.Errorf("-watch: %q is not a confid", id)
			}
			c.Watch = append(c.Watch, id)
		}
	}
	var key any
	switch {
	case *keyFile != "":
		k, err := readPrivateKey(*keyFile)
		if err != nil {
			return err
		}
		key = k
	case *secret != "":
		key = *secret
	default:
		return errors.New("no key: set EDGE_AUTH_SECRET (or -secret) or -key")
	}
	s, err := token.Sign(key, *kid, c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, s)
	return err
}

func readPrivateKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
