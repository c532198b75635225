package main

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseProxies checks forwarded_allow_ips against what it parsed: a
// list that parses, written back out, parses to the same set, and every
// address or network it names is trusted.
func FuzzParseProxies(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1", "10.0.0.0/8, ::1", "*", "unix", "::ffff:1.2.3.4",
		"fe80::1%eth0", "1.2.3.4/0", "localhost", "10.0.0.0/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		p, err := parseProxies(list)
		if err != nil || p == nil {
			return
		}
		items := make([]string, 0, len(p.prefixes)+2)
		if p.any {
			items = append(items, "*")
		}
		if p.unix {
			items = append(items, "unix")
		}
		for _, prefix := range p.prefixes {
			if !p.trusts(prefix.Addr()) {
				t.Fatalf("%q does not trust %v, which it names", list, prefix)
			}
			items = append(items, prefix.String())
		}
		again, err := parseProxies(strings.Join(items, ","))
		if err != nil {
			t.Fatalf("%q written back as %q: %v", list, items, err)
		}
		if again.any != p.any || again.unix != p.unix || len(again.prefixes) != len(p.prefixes) {
			t.Fatalf("%q parsed again as %+v, first %+v", list, again, p)
		}
		for i := range p.prefixes {
			if again.prefixes[i] != p.prefixes[i] {
				t.Fatalf("%q: prefix %v became %v", list, p.prefixes[i], again.prefixes[i])
			}
		}
	})
}

// FuzzForwardedFor checks the client read from X-Forwarded-For: it is
// one of the hops, every hop right of it is a trusted proxy, and a hop
// reads back as the address it names.
func FuzzForwardedFor(f *testing.F) {
	f.Add("10.0.0.0/8", "203.0.113.7, 10.0.0.2", "10.0.0.1")
	f.Add("*", "[::1]:80, 1.2.3.4:5678", "")
	f.Add("127.0.0.1", "::ffff:127.0.0.1, nonsense", "2001:db8::1")
	f.Fuzz(func(t *testing.T, list, xff1, xff2 string) {
		p, err := parseProxies(list)
		if err != nil || p == nil {
			return
		}
		values := []string{xff1, xff2}
		client, ok := p.forwardedFor(values)
		var hops []string
		for _, v := range values {
			hops = append(hops, strings.Split(v, ",")...)
		}
		// Read from the right, as forwardedFor does.
		for i := len(hops) - 1; i >= 0; i-- {
			addr, parsed := parseHop(hops[i])
			if !parsed {
				if ok && !isHopAt(hops, i+1, client) {
					t.Fatalf("%q: client %v is not the hop before the unparsable %q", hops, client, hops[i])
				}
				return
			}
			if addr.Zone() != "" {
				t.Fatalf("hop %q keeps its zone: %v", hops[i], addr)
			}
			if again, _ := parseHop(addr.String()); again != addr {
				t.Fatalf("hop %q reads as %v, and that as %v", hops[i], addr, again)
			}
			if !ok {
				t.Fatalf("%q: no client, though hop %q parses", hops, hops[i])
			}
			if !p.trusts(addr) || i == 0 {
				if addr != client {
					t.Fatalf("%q trusting %q: client %v, want %v", hops, list, client, addr)
				}
				return
			}
		}
		if ok {
			t.Fatalf("%q: client %v from no hop", hops, client)
		}
	})
}

// isHopAt reports whether hops[i] names addr.
func isHopAt(hops []string, i int, addr netip.Addr) bool {
	if i >= len(hops) {
		return false
	}
	got, ok := parseHop(hops[i])
	return ok && got == addr
}
