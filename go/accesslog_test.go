package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func logRequest(t *testing.T, format logFormat, h http.HandlerFunc, r *http.Request) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := openAccessLog(path, format)
	if err != nil {
		t.Fatal(err)
	}
	l.wrap(h).ServeHTTP(httptest.NewRecorder(), r)
	l.close()
	l.close() // harmless
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func teapot(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusTeapot)
	w.Write([]byte("short and stout"))
}

func TestAccessLogCombined(t *testing.T) {
	r := httptest.NewRequest("GET", "/pot?x=1", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("Referer", "http://example.com/")
	r.Header.Set("User-Agent", "tester \"quoted\"\n")
	line := logRequest(t, logCombined, teapot, r)
	want := regexp.MustCompile(`^192\.0\.2\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /pot\?x=1 HTTP/1\.1" 418 15 "http://example\.com/" "tester \\"quoted\\"\\x0a"\n$`)
	if !want.MatchString(line) {
		t.Errorf("got %q", line)
	}
}

func TestAccessLogCommon(t *testing.T) {
	r := httptest.NewRequest("HEAD", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:80"
	r.SetBasicAuth("alice", "secret")
	line := logRequest(t, logCommon, func(http.ResponseWriter, *http.Request) {}, r)
	if !regexp.MustCompile(`^2001:db8::1 - alice \[[^]]+\] "HEAD / HTTP/1\.1" 200 -\n$`).MatchString(line) {
		t.Errorf("got %q", line)
	}
}

func TestAccessLogJSON(t *testing.T) {
	r := httptest.NewRequest("POST", "/j", nil)
	r.Header.Set("User-Agent", "ua")
	line := logRequest(t, logJSON, teapot, r)
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if got["method"] != "POST" || got["uri"] != "/j" || got["status"] != 418.0 || got["bytes"] != 15.0 || got["user_agent"] != "ua" {
		t.Errorf("got %v", got)
	}
	if _, err := time.Parse(time.RFC3339, got["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
}

func TestAccessLogAbortedResponse(t *testing.T) {
	r := httptest.NewRequest("GET", "/abort", nil)
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := openAccessLog(path, logCommon)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("the panic did not go through: %v", p)
			}
		}()
		l.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic(http.ErrAbortHandler)
		})).ServeHTTP(httptest.NewRecorder(), r)
	}()
	l.close()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"GET /abort HTTP/1.1" 0 -`) {
		t.Errorf("got %q", b)
	}
}

func TestAccessLogAfterCloseDropsLines(t *testing.T) {
	l, err := openAccessLog(filepath.Join(t.TempDir(), "a.log"), logCommon)
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	l.send([]byte("late\n")) // must neither panic nor block
}

func TestOpenAccessLogErrors(t *testing.T) {
	if _, err := openAccessLog(filepath.Join(t.TempDir(), "no", "such", "dir.log"), logCommon); err == nil {
		t.Error("a path in a missing directory opened")
	}
	if _, err := openAccessLog("-", logFormat(7)); err == nil {
		t.Error("format 7 accepted")
	}
}

// BenchmarkAccessLog is the cost the access log adds to a request.
func BenchmarkAccessLog(b *testing.B) {
	for _, format := range []logFormat{logCombined, logJSON} {
		b.Run(map[logFormat]string{logCombined: "combined", logJSON: "json"}[format], func(b *testing.B) {
			l, err := openAccessLog(filepath.Join(b.TempDir(), "a.log"), format)
			if err != nil {
				b.Fatal(err)
			}
			defer l.close()
			h := l.wrap(http.HandlerFunc(teapot))
			r := httptest.NewRequest("GET", "/pot?x=1", nil)
			r.Header.Set("User-Agent", "bench")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := discard{http.Header{}}
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}
