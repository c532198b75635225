package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies is the set of trusted proxies of forwarded_allow_ips: only a
// request that comes from one of them may say, in X-Forwarded-For and
// X-Forwarded-Proto, whom and how it forwards.
type proxies struct {
	any      bool // "*": every peer
	unix     bool // "unix": peers on a Unix domain socket
	prefixes []netip.Prefix
}

// parseProxies reads a comma-separated list of IP addresses and CIDR
// networks ("127.0.0.1, 10.0.0.0/8, ::1"), with two literals: "*" (any
// peer) and "unix" (peers on a Unix socket).  An empty list trusts no one
// and returns nil.
func parseProxies(list string) (*proxies, error) {
	p := new(proxies)
	empty := true
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == "*":
			p.any = true
		case item == "unix":
			p.unix = true
		case strings.Contains(item, "/"):
			prefix, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, errInvalid("forwarded_allow_ips: %q is not an IP address or network: %v", item, err)
			}
			p.prefixes = append(p.prefixes, prefix.Masked())
		default:
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return nil, errInvalid("forwarded_allow_ips: %q is not an IP address or network (want e.g. 127.0.0.1, 10.0.0.0/8, ::1, unix or *)", item)
			}
			addr = addr.Unmap()
			p.prefixes = append(p.prefixes, netip.PrefixFrom(addr, addr.BitLen()))
		}
		empty = false
	}
	if empty {
		return nil, nil
	}
	return p, nil
}

func (p *proxies) trusts(addr netip.Addr) bool {
	if p.any {
		return true
	}
	addr = addr.Unmap()
	for _, prefix := range p.prefixes {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// trustsPeer reports whether the connection's peer, r.RemoteAddr, is a
// trusted proxy.
func (p *proxies) trustsPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil { // a Unix socket's peer: "" or "@"
		return p.any || p.unix
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && p.trusts(addr)
}

// wrap returns a handler that, for requests from a trusted proxy, sets
// r.RemoteAddr to the client X-Forwarded-For names (port 0, since the
// header has none) and notes the scheme X-Forwarded-Proto names (see
// requestScheme).  From anyone else, the headers are left as they are and
// ignored.
func (p *proxies) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.trustsPeer(r.RemoteAddr) {
			if client, ok := p.forwardedFor(r.Header.Values("X-Forwarded-For")); ok {
				r.RemoteAddr = net.JoinHostPort(client.String(), "0")
			}
			if proto := lastValue(r.Header.Values("X-Forwarded-Proto")); proto != "" {
				scheme := ""
				switch strings.ToLower(proto) {
				case "https", "wss":
					scheme = "https"
				case "http", "ws":
					scheme = "http"
				}
				if scheme != "" {
					r.URL.Scheme = scheme
					r = r.WithContext(context.WithValue(r.Context(), forwardedSchemeKey{}, scheme))
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedFor returns the client that X-Forwarded-For names.  Each proxy
// appends the address it got the request from, so the list is read from
// the right: the first address that is not a trusted proxy is the client
// (anything left of it may be forged).  If all are trusted, the leftmost
// is.  Reading stops at an entry that is not an IP address.
func (p *proxies) forwardedFor(values []string) (netip.Addr, bool) {
	var client netip.Addr
	found := false
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			addr, ok := parseHop(hops[j])
			if !ok {
				return client, found
			}
			client, found = addr, true
			if !p.trusts(addr) {
				return client, found
			}
		}
	}
	return client, found
}

// parseHop parses one X-Forwarded-For entry: an IP address, possibly with
// a port ("1.2.3.4:5678", "[::1]:80").  An IPv6 zone ("fe80::1%eth0") is
// dropped: it names an interface of the host that wrote it, means nothing
// here, and is any text at all (quotes, spaces), which would reach
// REMOTE_ADDR and the access log.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	return addr.Unmap().WithZone(""), true
}

// lastValue is the last entry of a comma-separated header: the one the
// nearest proxy set.
func lastValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// forwardedSchemeKey marks, in a request's context, the scheme a trusted
// proxy named (X-Forwarded-Proto).
type forwardedSchemeKey struct{}

// requestScheme is "https" for a request that came over TLS, or that a
// trusted proxy says came over it (X-Forwarded-Proto), else "http".
// r.URL.Scheme alone proves nothing: a client sets it with an
// absolute-form target ("GET https://example.com/ HTTP/1.1", or "a:"),
// so it counts only beside wrap's mark.  Most requests have no scheme
// there and cost no context lookup.
func requestScheme(r *http.Request) string {
	switch {
	case r.TLS != nil:
		return "https"
	case r.URL.Scheme == "":
		return "http"
	}
	if scheme, ok := r.Context().Value(forwardedSchemeKey{}).(string); ok {
		return scheme
	}
	return "http"
}
