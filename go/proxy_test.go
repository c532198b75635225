package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseProxies(t *testing.T) {
	for list, ok := range map[string]bool{
		"": true, " , ": true, "127.0.0.1": true, "10.0.0.0/8, ::1": true,
		"*": true, "unix": true, "localhost": false, "10.0.0.0/33": false,
		"1.2.3.4.5": false,
	} {
		if _, err := parseProxies(list); (err == nil) != ok {
			t.Errorf("parseProxies(%q): %v", list, err)
		}
	}
	if p, _ := parseProxies(" "); p != nil {
		t.Error("an empty list trusts someone")
	}
}

func TestForwardedClient(t *testing.T) {
	for _, tc := range []struct {
		trusted, peer string
		xff           []string
		proto         string
		want, scheme  string
	}{
		// An untrusted peer's headers are ignored.
		{"10.0.0.0/8", "192.0.2.9:5000", []string{"203.0.113.7"}, "https", "192.0.2.9:5000", "http"},
		{"127.0.0.1", "127.0.0.1:5000", []string{"203.0.113.7"}, "https", "203.0.113.7:0", "https"},
		// Read from the right: the first untrusted address is the client;
		// what is left of it may be forged.
		{"127.0.0.1, 10.0.0.0/8", "127.0.0.1:1", []string{"6.6.6.6, 203.0.113.7, 10.1.2.3"}, "", "203.0.113.7:0", "http"},
		{"127.0.0.1", "127.0.0.1:1", []string{"6.6.6.6", "203.0.113.7"}, "", "203.0.113.7:0", "http"},
		// All trusted: the leftmost.
		{"*", "127.0.0.1:1", []string{"10.0.0.1, 10.0.0.2"}, "http", "10.0.0.1:0", "http"},
		// Garbage stops the walk at the last good address.
		{"*", "127.0.0.1:1", []string{"unknown, 10.0.0.2"}, "", "10.0.0.2:0", "http"},
		{"*", "127.0.0.1:1", []string{"[2001:db8::7]:443"}, "", "[2001:db8::7]:0", "http"},
		{"::1", "[::1]:1", []string{"2001:db8::8"}, "HTTPS", "[2001:db8::8]:0", "https"},
		// A zone is any text: it never reaches RemoteAddr.
		{"*", "127.0.0.1:1", []string{"fe80::1%\" forged \"x"}, "", "[fe80::1]:0", "http"},
		{"*", "127.0.0.1:1", []string{"[fe80::2%eth0]:80"}, "", "[fe80::2]:0", "http"},
		// Unix socket peers only with "unix" (or "*").
		{"127.0.0.1", "@", []string{"203.0.113.7"}, "", "@", "http"},
		{"unix", "@", []string{"203.0.113.7"}, "", "203.0.113.7:0", "http"},
	} {
		p, err := parseProxies(tc.trusted)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		var got, scheme string
		p.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, scheme = r.RemoteAddr, requestScheme(r)
		})).ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want || scheme != tc.scheme {
			t.Errorf("trusted %q, peer %s, X-Forwarded-For %q: got %s %s, want %s %s", tc.trusted, tc.peer, tc.xff, got, scheme, tc.want, tc.scheme)
		}
	}
}

// A client's absolute-form target names a scheme; only a trusted proxy's
// X-Forwarded-Proto may change what requestScheme says.
func TestRequestSchemeIgnoresTheTargetsScheme(t *testing.T) {
	trusted, err := parseProxies("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		peer, target, proto, want string
	}{
		{"192.0.2.1:1234", "https://example.com/", "", "http"},
		{"192.0.2.1:1234", "a:", "", "http"},
		{"192.0.2.1:1234", "/", "https", "http"},
		{"10.0.0.1:1234", "https://example.com/", "", "http"},
		{"10.0.0.1:1234", "/", "https", "https"},
		{"10.0.0.1:1234", "https://example.com/", "http", "http"},
	}
	for _, tc := range cases {
		var got string
		h := trusted.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = requestScheme(r)
		}))
		r := httptest.NewRequest("GET", tc.target, nil)
		r.RemoteAddr = tc.peer
		r.TLS = nil // NewRequest sets it for an https target; the client is cleartext
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%+v: scheme %q, want %q", tc, got, tc.want)
		}
	}
}
