package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAccessLog checks the access log against a forging client: whatever
// the request holds, a line is one line, with no control character and
// no unescaped quote in a field, and each escaped field reads back as the
// request's; a JSON line is one valid object holding the request's
// values.
func FuzzAccessLog(f *testing.F) {
	f.Add("GET", "/pot?x=1", "HTTP/1.1", "192.0.2.1:1234", "http://example.com/", "curl/8", "alice:pw", 418, int64(15))
	f.Add("GET", "/\"\n\x00\xff", "HTTP/1.0", "@", "\\", "\x1b[31m", "", 200, int64(0))
	f.Add("POST", "*", "HTTP/2.0", "[::1]:80", "", "ü", "\"x\":y", 500, int64(-1))
	f.Fuzz(func(t *testing.T, method, uri, proto, remote, referer, agent, auth string, status int, size int64) {
		r := &http.Request{Method: method, RequestURI: uri, Proto: proto, RemoteAddr: remote,
			Header: http.Header{"Referer": {referer}, "User-Agent": {agent}}, Host: agent}
		if auth != "" {
			r.Header.Set("Authorization", "Basic "+auth)
		}
		start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		line := logCombined.appendLine(nil, r, status, size, start, time.Millisecond)
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		for _, c := range line[:len(line)-1] {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("a raw control or non-ASCII byte %#x in %q", c, line)
			}
		}
		// The quoted fields: "%r" "%{Referer}i" "%{User-agent}i".
		fields := quotedFields(string(line))
		if len(fields) != 3 {
			t.Fatalf("%d quoted fields in %q", len(fields), line)
		}
		for i, want := range []string{method + " " + uri + " " + proto, r.Header.Get("Referer"), r.Header.Get("User-Agent")} {
			if want == "" && i > 0 {
				want = "-"
			}
			if fields[i] != want {
				t.Fatalf("field %d reads back %q, want %q, in %q", i, fields[i], want, line)
			}
		}

		line = appendJSONLine(nil, r, status, size, start, time.Millisecond)
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		var got jsonLine
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		for _, pair := range [][2]string{{got.Method, method}, {got.URI, uri}, {got.Proto, proto},
			{got.Referer, referer}, {got.UserAgent, agent}, {got.RemoteAddr, clientHost(remote)}} {
			if utf8.ValidString(pair[1]) && pair[0] != pair[1] {
				t.Fatalf("JSON reads back %q, want %q, in %q", pair[0], pair[1], line)
			}
		}
		if got.Status != status || got.Bytes != size {
			t.Fatalf("JSON status %d bytes %d, want %d %d", got.Status, got.Bytes, status, size)
		}
	})
}

// quotedFields reads the "…" fields of a log line, undoing appendEscaped
// in and out of them.
func quotedFields(line string) []string {
	var fields []string
	var field strings.Builder
	in := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+3 < len(line) && line[i+1] == 'x':
			var b byte
			for _, h := range line[i+2 : i+4] {
				b = b<<4 | byte(strings.IndexRune("0123456789abcdef", h))
			}
			field.WriteByte(b)
			i += 3
		case c == '\\' && i+1 < len(line):
			field.WriteByte(line[i+1])
			i++
		case c == '"':
			if in {
				fields = append(fields, field.String())
			}
			in = !in
			field.Reset()
		default:
			field.WriteByte(c)
		}
	}
	return fields
}
