package conference

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// platformTLS is the TLS configuration of the platform's REST endpoint.
// By default the system's roots verify it. YTXCAFile replaces them with a
// PEM bundle (a corporate proxy, a pinned CA). YTXInsecureSkipVerify turns
// verification off, as the platform's own SDKs do; it exists for a sandbox
// whose certificate cannot be verified, is logged as a warning at start
// (Run), and should never be used in production: anyone on the path could
// then read the auth token's signatures and forge the platform's answers.
func platformTLS(cfg Config) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.YTXCAFile != "" {
		pem, err := os.ReadFile(cfg.YTXCAFile)
		if err != nil {
			return nil, fmt.Errorf("ytx-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ytx-ca-file %s: no PEM certificate in it", cfg.YTXCAFile)
		}
		c.RootCAs = pool
	}
	c.InsecureSkipVerify = cfg.YTXInsecureSkipVerify // #nosec G402 -- explicit, warned-about operator choice
	return c, nil
}
