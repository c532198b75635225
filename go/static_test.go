package main

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// staticTree makes root/public (served) beside root/secret.txt (not).
func staticTree(t *testing.T) (public string) {
	t.Helper()
	root := t.TempDir()
	public = filepath.Join(root, "public")
	for name, body := range map[string]string{
		"public/app.css":         "body{}",
		"public/docs/index.html": "<h1>docs</h1>",
		"public/bare/file.txt":   "bare",
		"secret.txt":             "SECRET",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(public, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(public, "up")); err != nil {
		t.Fatal(err)
	}
	return public
}

func serveStatic(t *testing.T, listing bool) *http.ServeMux {
	t.Helper()
	d, err := newStaticDir("/static/", staticTree(t), listing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	mux := http.NewServeMux()
	mux.Handle("GET /static/", d)
	return mux
}

func get(h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestStaticServesFiles(t *testing.T) {
	mux := serveStatic(t, false)
	w := get(mux, "/static/app.css")
	if w.Code != 200 || w.Body.String() != "body{}" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
	etag := w.Header().Get("Etag")
	if etag == "" || w.Header().Get("Last-Modified") == "" {
		t.Fatalf("no validators: %v", w.Header())
	}
	if w := get(mux, "/static/app.css", "If-None-Match", etag); w.Code != 304 {
		t.Errorf("If-None-Match: got %d, want 304", w.Code)
	}
	if w := get(mux, "/static/app.css", "Range", "bytes=1-3"); w.Code != 206 || w.Body.String() != "ody" {
		t.Errorf("Range: got %d %q", w.Code, w.Body)
	}
	if w := get(mux, "/static/docs/"); w.Code != 200 || w.Body.String() != "<h1>docs</h1>" {
		t.Errorf("index.html: got %d %q", w.Code, w.Body)
	}
}

func TestStaticListing(t *testing.T) {
	for _, target := range []string{"/static/", "/static/bare/"} {
		if w := get(serveStatic(t, false), target); w.Code != 404 {
			t.Errorf("listing off, %s: got %d, want 404", target, w.Code)
		}
		w := get(serveStatic(t, true), target)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "<a href=") {
			t.Errorf("listing on, %s: got %d %q", target, w.Code, w.Body)
		}
	}
}

func TestStaticStaysInsideItsDirectory(t *testing.T) {
	mux := serveStatic(t, true)
	for _, target := range []string{
		"/static/../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/%2E%2E%2Fsecret.txt",
		"/static/..%2fsecret.txt",
		"/static/docs/../../secret.txt",
		"/static/escape.txt", // a symbolic link out of the directory
		"/static/up/secret.txt",
		"/static/up/",
	} {
		w := get(mux, target)
		if w.Code == 200 || strings.Contains(w.Body.String(), "SECRET") {
			t.Errorf("%s: got %d %q", target, w.Code, w.Body)
		}
	}
}

func TestStaticDirectoryMustExist(t *testing.T) {
	dir := t.TempDir()
	if _, err := newStaticDir("/s/", filepath.Join(dir, "missing"), false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: got %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := newStaticDir("/s/", file, false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: got %v", err)
	}
}

func TestCheckStaticPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"/static/": true, "/": true, "/a/b/": true,
		"static/": false, "/static": false, "/{x}/": false,
		"GET /static/": false, "/a//b/": false, "/a/../b/": false,
	} {
		if err := checkStaticPrefix(prefix); (err == nil) != ok {
			t.Errorf("checkStaticPrefix(%q) = %v", prefix, err)
		}
	}
}

func TestStaticRefusalsAre404(t *testing.T) {
	mux := serveStatic(t, false)
	for _, target := range []string{"/static/escape.txt", "/static/up/secret.txt", "/static/app.css/x", "/static/" + strings.Repeat("a", 5000)} {
		if w := get(mux, target); w.Code != 404 {
			t.Errorf("%s: got %d, want 404", target[:min(len(target), 40)], w.Code)
		}
	}
}
