package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The source address of a connection, which svc-conference's per-source
// call budget is keyed by (contract.HeaderSource). Behind a load balancer
// the TCP peer is the balancer: X-Forwarded-For is believed only from the
// proxies in Config.TrustedProxies, read from the right (the nearest hop)
// and skipping trusted hops, so a client cannot choose its own address by
// sending the header itself.

// parsePrefixes reads "cidr,addr,…" (a bare address is its /32 or /128).
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %q is neither a CIDR nor an address", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// prefixList is the flag.Value of Config.TrustedProxies.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	if l == nil {
		return ""
	}
	out := make([]string, len(*l))
	for i, p := range *l {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

func (l *prefixList) Set(s string) error {
	p, err := parsePrefixes(s)
	if err != nil {
		return err
	}
	*l = p
	return nil
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourceAddr is r's client address; "" when even the peer's is unreadable.
func sourceAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if !trustedAddr(a, trusted) {
		return a.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // malformed: the nearest trusted hop is all that is known
		}
		a = h.Unmap()
		if !trustedAddr(a, trusted) {
			break
		}
	}
	return a.String()
}
