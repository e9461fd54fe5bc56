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
func BenchmarkCallback(b *testing.B) {
	for _, mode := range []struct {
		name string
		size int
	}{{"cache=on", 0}, {"cache=off", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnv(b)
			in := e.start(func(c *Config) { c.SeqCacheSize = mode.size })
			url := in.http.URL + "/yt/" + testSecret + "/joined"
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			defer hc.CloseIdleConnections()
			var n atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Request><confid>%d</confid><callid>b%031d</callid><number>138%08d</number><jointime>20261128103000</jointime><result>0</result></Request>`,
						10000+i%1000, i, i)
					resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("HTTP %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(testutil.ToFloat64(in.srv.metrics.reads)/float64(b.N), "reads/op")
		})
	}
}
