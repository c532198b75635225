package main

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// FuzzPackRequest checks the request block handed to C: for any request
// net/http parses, what C reads back from the block (requestView, which
// walks it as ext/module.h does) is the request, field by field, every
// header pair and path value, and nothing more; and a call reused for a
// second request packs that one as cleanly.
func FuzzPackRequest(f *testing.F) {
	f.Add("GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nX-A: 2\r\n\r\n", "id", "42")
	f.Add("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", "", "")
	f.Add("PUT http://other/abs?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "rest", "a/b")
	f.Add("OPTIONS * HTTP/1.0\r\nEmpty:\r\n\r\n", "x", "")
	f.Fuzz(func(t *testing.T, raw, name, value string) {
		c := newCall()
		defer c.handle.Delete()
		for _, req := range []string{raw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", raw} {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
			if err != nil {
				return
			}
			r.RemoteAddr = "192.0.2.1:1234"
			var names []string
			if name != "" {
				r.SetPathValue(name, value)
				names = []string{name}
			}
			c.begin(nil, r, 0, names)
			v, err := c.view()
			if err != nil {
				t.Fatalf("%q: C would misread the block: %v", req, err)
			}
			want := requestView{method: r.Method, url: r.RequestURI, path: r.URL.Path, query: r.URL.RawQuery,
				host: r.Host, proto: r.Proto, remoteAddr: r.RemoteAddr, scheme: "http",
				contentLength: r.ContentLength}
			if want.contentLength == 0 && r.Body != http.NoBody {
				want.contentLength = -1
			}
			for key, values := range r.Header {
				for _, value := range values {
					want.headers = append(want.headers, [2]string{key, value})
				}
			}
			for _, name := range names {
				want.pathValues = append(want.pathValues, [2]string{name, r.PathValue(name)})
			}
			slices.SortFunc(v.headers, comparePairs)
			slices.SortFunc(want.headers, comparePairs)
			if v.method != want.method || v.url != want.url || v.path != want.path || v.query != want.query ||
				v.host != want.host || v.proto != want.proto || v.remoteAddr != want.remoteAddr ||
				v.scheme != want.scheme || v.contentLength != want.contentLength ||
				!slices.Equal(v.headers, want.headers) || !slices.Equal(v.pathValues, want.pathValues) {
				t.Fatalf("%q: C reads\n%+v\nwant\n%+v", req, v, want)
			}
			c.end(0)
		}
	})
}

func comparePairs(a, b [2]string) int {
	return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
}

// TestPackReusesRequestHeadersOnlyWhenTheyAreTheSame checks the request
// headers a call copies from its last request (headerMemo): C reads each
// request's own headers, whatever came before on the call.
func TestPackReusesRequestHeadersOnlyWhenTheyAreTheSame(t *testing.T) {
	c := newCall()
	defer c.handle.Delete()
	headers := []http.Header{
		{"A": {"1"}},
		{"A": {"1"}}, // the same: copied
		{"A": {"2"}},
		{"A": {"2"}, "B": {"x"}},
		{"B": {"x"}, "A": {"2"}}, // the same in another order
		{"A": {"2", "3"}},
		{"A": {"3", "2"}},
		{"A": {}},
		{"Z": {"1"}}, // as many keys, and A had no values
		{},
		{},
		{"Long": {strings.Repeat("x", maxKeptRequestHeaders)}},
		{"Long": {strings.Repeat("x", maxKeptRequestHeaders)}}, // not kept
		{"A": {"1"}},
	}
	for i, h := range headers {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		r.Header = h
		c.begin(nil, r, 0, nil)
		v, err := c.view()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var want [][2]string
		for key, values := range h {
			for _, value := range values {
				want = append(want, [2]string{key, value})
			}
		}
		slices.SortStableFunc(v.headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		slices.SortStableFunc(want, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		if !slices.Equal(v.headers, want) {
			t.Errorf("request %d: C reads %q, want %q", i, v.headers, want)
		}
		c.end(0)
	}
}

// TestPackForgetsLargeRequestHeaders checks that what a call remembers of
// its last request's headers stays small: a block over
// maxKeptRequestHeaders drops the memo whole, strings included, and many
// small headers within it keep it.
func TestPackForgetsLargeRequestHeaders(t *testing.T) {
	c := newCall()
	defer c.handle.Delete()
	many := http.Header{}
	for i := range 600 { // 600 pairs of 8+ bytes: over the limit
		many[fmt.Sprintf("K%d", i)] = []string{""}
	}
	for i, h := range []http.Header{
		{"A": {"1"}},
		{"Long": {strings.Repeat("x", maxKeptRequestHeaders)}},
		{"A": {"1"}},
		many,
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		r.Header = h
		c.begin(nil, r, 0, nil)
		c.end(0)
		m := &c.lastHeaders
		if i%2 == 0 && (m.packed == nil || len(m.keys) != 1) {
			t.Errorf("request %d: not kept: %d keys", i, len(m.keys))
		}
		if i%2 == 1 && (m.packed != nil || m.keys != nil || m.values != nil || m.counts != nil) {
			t.Errorf("request %d: kept %d bytes, %d keys, %d values", i, len(m.packed), len(m.keys), len(m.values))
		}
	}
}
