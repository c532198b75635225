package main

import (
	"net"
	"net/http"
	"testing"
)

// TestAcceptsTrailers: trailers go only to a client whose TE names them
// (RFC 9110 10.1.4), however it spells and lists them.
func TestAcceptsTrailers(t *testing.T) {
	for _, tc := range []struct {
		te   []string
		want bool
	}{
		{nil, false},
		{[]string{"trailers"}, true},
		{[]string{"gzip, Trailers"}, true},
		{[]string{"gzip;q=0.5", " trailers ;q=1"}, true},
		{[]string{"gzip", "deflate"}, false},
		{[]string{"trailersx"}, false},
	} {
		r := &http.Request{Header: http.Header{}}
		if tc.te != nil {
			r.Header["Te"] = tc.te
		}
		if got := acceptsTrailers(r); got != tc.want {
			t.Errorf("TE %q: acceptsTrailers %v, want %v", tc.te, got, tc.want)
		}
	}
}

// TestSameTCPAddr: the local address of two connections is formatted
// once when their *net.TCPAddr are equal, never when they differ.
func TestSameTCPAddr(t *testing.T) {
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}
	for _, tc := range []struct {
		b    net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}, true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8001}, false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 8000}, false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 8000}, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8000, Zone: "lo"}, false},
		{&net.UnixAddr{Name: "/run/a.sock", Net: "unix"}, false},
		{nil, false},
	} {
		if got := sameTCPAddr(a, tc.b); got != tc.want {
			t.Errorf("sameTCPAddr(%v, %v) = %v, want %v", a, tc.b, got, tc.want)
		}
	}
}
