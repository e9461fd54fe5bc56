package token_test

import (
	"fmt"
	"time"

	"confapplet/pkg/token"
)

// A back end signs a connection token for one of its users' browsers; the
// page connects with ?token=<token> to an edge started with the same
// -auth-secret (EDGE_AUTH_SECRET). Any JWT library does the same.
func ExampleSign() {
	now := time.Unix(1700000000, 0) // e.g. time.Now()
	c := token.New("alice", now, 10*time.Minute)
	tok, err := token.Sign("key", "", c)
	if err != nil {
		panic(err)
	}
	fmt.Println("/client/alice?token=" + tok)
	// Output: /client/alice?token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDYwMCwiaWF0IjoxNzAwMDAwMDAwfQ.uYm3K-iToecOBkpCiWsSXl3RRHXiQyc31ZeN_c47KyU
}
