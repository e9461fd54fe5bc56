package callback

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkCallback posts "joined" callbacks over HTTP (keep-alive) to one
// instance on an embedded NATS, round-robin over 1000 conferences, from
// parallel clients: the whole callback path (HTTP, parse, JetStream publish
// and ack). cache=off is the former two-round-trip path (read the last
// event, then publish); cache=on publishes with one round trip.
//
//	go test ./svc-callback/callback -run '^$' -bench Callback -benchmem
//
// clients=1 is one client posting callbacks one after another: ns/op is the
// unloaded latency of one callback (HTTP round trip included).
func BenchmarkCallback(b *testing.B) {
	for _, mode := range []struct {
		name    string
		size    int
		clients int
	}{{"cache=on/clients=16", 0, 8}, {"cache=off/clients=16", -1, 8}, {"cache=on/clients=1", 0, 0}, {"cache=off/clients=1", -1, 0}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnv(b)
			in := e.start(func(c *Config) { c.SeqCacheSize = mode.size })
			url := in.http.URL + "/yt/" + testSecret + "/joined"
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			defer hc.CloseIdleConnections()
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			if mode.clients == 0 {
				for range b.N {
					if !post(b, hc, url, n.Add(1)) {
						return
					}
				}
				b.StopTimer()
				b.ReportMetric(testutil.ToFloat64(in.srv.metrics.reads)/float64(b.N), "reads/op")
				return
			}
			b.SetParallelism(mode.clients) // × GOMAXPROCS goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !post(b, hc, url, n.Add(1)) {
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(testutil.ToFloat64(in.srv.metrics.reads)/float64(b.N), "reads/op")
		})
	}
}

// post sends callback i (conference 10000 + i%1000) and reports success.
func post(b *testing.B, hc *http.Client, url string, i int64) bool {
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Request><confid>%d</confid><callid>b%031d</callid><number>138%08d</number><jointime>20261128103000</jointime><result>0</result></Request>`,
		10000+i%1000, i, i)
	resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("HTTP %d", resp.StatusCode)
		return false
	}
	return true
}
