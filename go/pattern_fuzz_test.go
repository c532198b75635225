package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzWildcardNames checks wildcardNames against the ServeMux itself: for
// every pattern the mux accepts, a request made to match it, with a
// distinct value for each wildcard, routes to it and the mux gives each
// name wildcardNames found its own value.
func FuzzWildcardNames(f *testing.F) {
	for _, p := range []string{"/", "/static/", "GET /items/{id}", "POST example.com/a/{x}/b/{y}",
		"/{path...}", "/exact/{$}", "GET /u/{name}/{rest...}", "/{a}/{b}/{c}", "/x{y}"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		names := wildcardNames(pattern) // never panics, valid or not
		mux := http.NewServeMux()
		var got map[string]string
		var matched string
		if !registers(mux, pattern, func(w http.ResponseWriter, r *http.Request) {
			matched = r.Pattern
			got = make(map[string]string)
			for _, name := range names {
				got[name] = r.PathValue(name)
			}
		}) {
			return
		}
		method, host, path := splitPattern(pattern)
		var want map[string]string
		var segments []string
		n := 0
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				name := strings.TrimSuffix(seg[1:len(seg)-1], "...")
				if name == "$" {
					seg = ""
				} else {
					if want == nil {
						want = make(map[string]string)
					}
					n++
					seg = "v" + strings.Repeat("x", n)
					want[name] = seg
				}
			} else if strings.ContainsAny(seg, "{}%") {
				return // not one this test can make a path for
			}
			segments = append(segments, seg)
		}
		var wantNames []string
		for name := range want {
			wantNames = append(wantNames, name)
		}
		if len(wantNames) != len(names) || !slices.Equal(sorted(wantNames), sorted(slices.Clone(names))) {
			t.Fatalf("wildcardNames(%q) = %q, the mux has %q", pattern, names, wantNames)
		}
		if method == "" {
			method = "GET"
		}
		if host == "" {
			host = "example.com"
		}
		r := &http.Request{Method: method, Host: host, Header: make(http.Header),
			URL: &url.URL{Path: strings.Join(segments, "/")}}
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if matched != pattern {
			return // the path made cannot reach it (a cleaned path, a HEAD)
		}
		for name, value := range want {
			if got[name] != value {
				t.Fatalf("%q: PathValue(%q) = %q, want %q", pattern, name, got[name], value)
			}
		}
	})
}

// registers reports whether mux accepts pattern.
func registers(mux *http.ServeMux, pattern string, h http.HandlerFunc) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	mux.HandleFunc(pattern, h)
	return true
}

// splitPattern takes a valid ServeMux pattern apart: [METHOD ][HOST]/PATH.
func splitPattern(pattern string) (method, host, path string) {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		method, pattern = pattern[:i], strings.TrimLeft(pattern[i+1:], " \t")
	}
	i := strings.IndexByte(pattern, '/')
	return method, pattern[:i], pattern[i:]
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
