// Package natsembed starts a nats-server with JetStream inside the current
// process: for the all-in-one local runner (a store directory that survives
// restarts) and, through pkg/testkit, for tests (a store of the test's own on
// a random port).
package natsembed

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure Start. The zero value is a test server: random port,
// temporary store, no logging.
type Options struct {
	// Port is the client port; 0 means a random free port (-1 to nats-server).
	Port int
	// Host defaults to 127.0.0.1.
	Host string
	// StoreDir is the JetStream store; "" makes a temporary directory that
	// Shutdown removes.
	StoreDir string
	// ServerName names the server (needed to keep JetStream state across
	// restarts on one StoreDir); default "confapplet".
	ServerName string
	// Log sends nats-server's own log to stderr.
	Log bool
	// ReadyTimeout bounds the wait for the server to accept connections.
	ReadyTimeout time.Duration
}

// Server is a running embedded nats-server.
type Server struct {
	*server.Server
	storeDir string
	tempDir  bool
}

// Start runs a nats-server with JetStream and waits until it accepts clients.
func Start(o Options) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	if o.ServerName == "" {
		o.ServerName = "confapplet"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	temp := false
	if o.StoreDir == "" {
		d, err := os.MkdirTemp("", "confapplet-nats-*")
		if err != nil {
			return nil, fmt.Errorf("natsembed: temp store: %w", err)
		}
		o.StoreDir, temp = d, true
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      !o.Log,
		MaxPayload: 1 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		if temp {
			os.RemoveAll(o.StoreDir)
		}
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if o.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(o.ReadyTimeout) {
		s.Shutdown()
		if temp {
			os.RemoveAll(o.StoreDir)
		}
		return nil, errors.New("natsembed: server not ready in time")
	}
	return &Server{Server: s, storeDir: o.StoreDir, tempDir: temp}, nil
}

// StoreDir is the JetStream store directory in use.
func (s *Server) StoreDir() string { return s.storeDir }

// Shutdown stops the server, waits for it, and removes a temporary store.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
	if s.tempDir {
		os.RemoveAll(s.storeDir)
	}
}
