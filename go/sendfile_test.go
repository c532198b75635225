package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// sendFileServer serves every request by sending the file at path with
// sendFile(offset, count) after a status of code and, if cl >= 0, a
// Content-Length of cl, as C would.  It reports what sendFile returned.
func sendFileServer(t *testing.T, path string, code int, cl, offset, count int64) (*httptest.Server, chan sendResult) {
	t.Helper()
	results := make(chan sendResult, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			results <- sendResult{err: err}
			return
		}
		defer f.Close()
		c := newCall()
		defer c.handle.Delete()
		c.begin(w, r, 0, nil)
		var headers []byte
		if cl >= 0 {
			headers = appendItem(appendItem(nil, "Content-Length"), strconv.FormatInt(cl, 10))
		}
		c.mu.Lock()
		if err := c.writeHeader(code, headers); err != nil {
			c.mu.Unlock()
			results <- sendResult{err: err}
			return
		}
		n, err := c.sendFile(int(f.Fd()), offset, count)
		c.mu.Unlock()
		c.end(0)
		// The caller's descriptor is still open, its offset after the
		// last byte sent.
		pos, serr := f.Seek(0, io.SeekCurrent)
		results <- sendResult{n: n, err: err, pos: pos, seekErr: serr}
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

type sendResult struct {
	n, pos       int64
	err, seekErr error
}

func writeTestFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestSendFile(t *testing.T) {
	path, data := writeTestFile(t, 1<<20+3)
	for _, tc := range []struct {
		name                 string
		cl, offset, count    int64
		wantFrom, wantLength int
	}{
		{"whole, declared", int64(len(data)), 0, -1, 0, len(data)},
		{"whole, chunked", -1, 0, -1, 0, len(data)},
		{"span, declared", 1000, 5, 1000, 5, 1000},
		{"span, chunked", -1, 700_000, 100, 700_000, 100},
		{"to the end from an offset", int64(len(data) - 10), 10, -1, 10, len(data) - 10},
		{"count beyond the end", -1, int64(len(data) - 4), 100, len(data) - 4, 4},
		{"offset beyond the end", -1, int64(len(data) + 1), -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, results := sendFileServer(t, path, 200, tc.cl, tc.offset, tc.count)
			r, err := http.Get(srv.URL)
			res := <-results
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := data[min(tc.wantFrom, len(data)):][:tc.wantLength]
			if !bytes.Equal(body, want) || res.err != nil || res.n != int64(len(want)) {
				t.Fatalf("got %d bytes (sendFile: %d, %v), want %d", len(body), res.n, res.err, len(want))
			}
			if res.seekErr != nil || (tc.wantLength > 0 && res.pos != int64(tc.wantFrom+tc.wantLength)) {
				t.Errorf("the caller's offset is %d (%v), want %d", res.pos, res.seekErr, tc.wantFrom+tc.wantLength)
			}
		})
	}
}

func TestSendFileHeadReadsNothing(t *testing.T) {
	path, data := writeTestFile(t, 5000)
	srv, results := sendFileServer(t, path, 200, -1, 1000, -1)
	r, err := http.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	res := <-results
	if res.err != nil || res.n != int64(len(data)-1000) || res.pos != 0 {
		t.Fatalf("sendFile: %d, %v, offset %d; want %d, nil, 0", res.n, res.err, res.pos, len(data)-1000)
	}
}

func TestSendFileRefusals(t *testing.T) {
	path, _ := writeTestFile(t, 100)
	invalid := errInvalid("").(*statusError).status
	for _, tc := range []struct {
		name              string
		code              int
		cl, offset, count int64
	}{
		{"304 has no body", 304, -1, 0, -1},
		{"longer than Content-Length", 200, 99, 0, -1},
		{"count past Content-Length", 200, 10, 0, 11},
		{"negative offset", 200, -1, -1, -1},
		{"count below -1", 200, -1, 0, -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, results := sendFileServer(t, path, tc.code, tc.cl, tc.offset, tc.count)
			if r, err := http.Get(srv.URL); err == nil {
				r.Body.Close()
			}
			res := <-results
			var se *statusError
			if !errors.As(res.err, &se) || se.status != invalid || res.n != 0 {
				t.Fatalf("sendFile: %d, %v; want nothing sent and GOHTTP_EINVAL", res.n, res.err)
			}
		})
	}
}

func TestSendFileBadDescriptor(t *testing.T) {
	c := newCall()
	defer c.handle.Delete()
	c.begin(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), 0, nil)
	n, err := c.sendFile(-1, 0, -1)
	if n != 0 || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("sendFile(-1): %d, %v; want EBADF", n, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := c.sendFile(int(w.Fd()), 0, -1); !errors.Is(err, syscall.ESPIPE) {
		t.Fatalf("sendFile(pipe): %v; want ESPIPE", err)
	}
}

// TestOpenRegular: http.response.pathsend's open takes regular files
// only, and never waits on a FIFO that has no writer.
func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, size, err := openRegular(path)
	if err != nil || size != 5 {
		t.Fatalf("openRegular(file): %d, %v; want 5, nil", size, err)
	}
	f.Close()
	if _, _, err := openRegular(dir); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("openRegular(dir): %v; want EISDIR", err)
	}
	if _, _, err := openRegular(filepath.Join(dir, "missing")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("openRegular(missing): %v; want ENOENT", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var se *statusError
	if _, _, err := openRegular(fifo); !errors.As(err, &se) || se.status != errInvalid("").(*statusError).status {
		t.Errorf("openRegular(fifo): %v; want EINVAL", err)
	}
}
