package main

import (
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
