package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseListenAddr checks the address parser against its inverse: an
// address that parses, written back in its canonical form, parses to the
// same thing, and the canonical TCP form is what net takes apart.
func FuzzParseListenAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8000", ":8000", "[::1]:8000", "localhost:0",
		"unix:/run/app.sock", "unix:", "fd://3", "fd://-1", "fd://+3", "1.2.3.4:65536", "[::1]", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		a, err := parseListenAddr(addr)
		if err != nil {
			return
		}
		var canonical string
		switch a.network {
		case "unix":
			canonical = "unix:" + a.address
			if a.address == "" {
				t.Fatalf("%q: an empty path", addr)
			}
		case "fd":
			canonical = "fd://" + strconv.Itoa(a.fd)
			if a.fd < 0 {
				t.Fatalf("%q: fd %d", addr, a.fd)
			}
		case "tcp":
			canonical = a.address
			host, port, err := net.SplitHostPort(a.address)
			if err != nil {
				t.Fatalf("%q became %q, which net cannot take apart: %v", addr, a.address, err)
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				t.Fatalf("%q: port %q: %v", addr, port, err)
			}
			if strings.Contains(host, ":") != strings.HasPrefix(a.address, "[") {
				t.Fatalf("%q became %q: an IPv6 host must be bracketed", addr, a.address)
			}
		default:
			t.Fatalf("%q: network %q", addr, a.network)
		}
		again, err := parseListenAddr(canonical)
		if err != nil || again != a {
			t.Fatalf("%q -> %+v, written as %q -> %+v, %v", addr, a, canonical, again, err)
		}
	})
}
