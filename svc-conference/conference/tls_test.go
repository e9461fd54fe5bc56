package conference

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confapplet/pkg/contract"
	"confapplet/pkg/ytxsim"
)

// TestPlatformTLS: against a platform endpoint with a certificate the
// system does not trust, the default refuses it (platform_unavailable), a
// CA bundle holding it is accepted, and skipping verification works too;
// both together is a configuration error, and -ytx-insecure-skip-verify is
// read from the environment like every other setting.
func TestPlatformTLS(t *testing.T) {
	sim := ytxsim.New(ytxsim.Config{Clock: ytxsim.NewFakeClockNow()})
	defer sim.Close()
	srv := httptest.NewTLSServer(sim)
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	create := func(mod func(*Config)) error {
		cfg := DefaultConfig()
		cfg.YTXBaseURL = srv.URL + "/" + ytxsim.Version
		mod(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		p, err := NewYTX(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateConf(context.Background(), 5)
		return err
	}
	err := create(func(*Config) {})
	if err == nil || platformError(err).Code != contract.CodePlatformDown || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unverifiable certificate accepted by default: %v", err)
	}
	if err := create(func(c *Config) { c.YTXCAFile = caFile }); err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
	if err := create(func(c *Config) { c.YTXInsecureSkipVerify = true }); err != nil {
		t.Fatalf("without verification: %v", err)
	}

	both := DefaultConfig()
	both.YTXCAFile, both.YTXInsecureSkipVerify = caFile, true
	if err := both.Validate(); err == nil {
		t.Error("CA file and skip-verify together accepted")
	}
	notPEM := DefaultConfig()
	notPEM.YTXCAFile = filepath.Join(t.TempDir(), "missing.pem")
	if err := notPEM.Validate(); err == nil || !strings.Contains(err.Error(), "ytx-ca-file") {
		t.Errorf("missing CA file: %v", err)
	}
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"YTX_INSECURE_SKIP_VERIFY": "true", "YTX_CA_FILE": ""}[k]
	}, nil)
	if err != nil || !cfg.YTXInsecureSkipVerify {
		t.Errorf("YTX_INSECURE_SKIP_VERIFY=true read as %v (%v)", cfg.YTXInsecureSkipVerify, err)
	}
}
