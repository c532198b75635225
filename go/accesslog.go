package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// logFormat is an access log's line format; the values are bridge.h's
// gohttp_log_format.
type logFormat int

const (
	logCombined logFormat = iota // common, then "referer" "user-agent"
	logCommon                    // host ident user [time] "request" status bytes
	logJSON                      // one JSON object per line
)

// An accessLog writes one line per request, in Go: no request waits for
// the GIL to be logged, nor for the disk.  Handlers queue their lines; one
// goroutine writes what has gathered (see logGather) in one write.
type accessLog struct {
	format logFormat
	out    io.Writer
	file   *os.File // closed by close; nil for standard error

	mu     sync.RWMutex // held to send on lines; to close it, exclusively
	closed bool
	lines  chan []byte
	done   chan struct{} // closed when the writer has written all
}

// openAccessLog starts an access log to dest: "-" for standard error,
// else a file path, opened for appending and created if need be.
func openAccessLog(dest string, format logFormat) (*accessLog, error) {
	if format < logCombined || format > logJSON {
		return nil, errInvalid("unknown access log format %d", format)
	}
	l := &accessLog{
		format: format,
		out:    os.Stderr,
		lines:  make(chan []byte, 4096),
		done:   make(chan struct{}),
	}
	if dest != "-" {
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		l.out, l.file = f, f
	}
	go l.run()
	return l, nil
}

// logGather is how long the writer lets lines gather after the first one
// before it writes them: a busy server then makes one system call (and
// wakes the writer once) for hundreds of requests, not one per request.
const logGather = 2 * time.Millisecond

func (l *accessLog) run() {
	defer close(l.done)
	bw := bufio.NewWriterSize(l.out, 64<<10)
	for line := range l.lines {
		bw.Write(line)
		time.Sleep(logGather)
		for n := len(l.lines); n > 0; n-- {
			bw.Write(<-l.lines)
		}
		bw.Flush() // an error (a full disk) loses lines, never a request
	}
}

// send queues a line; once the log is closed, lines are dropped.
func (l *accessLog) send(line []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.closed {
		l.lines <- line
	}
}

// close writes out the lines queued and closes the file.  Calling it
// again is harmless.
func (l *accessLog) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.closed = true
	close(l.lines)
	l.mu.Unlock()
	<-l.done
	if l.file != nil {
		l.file.Close()
	}
}

// wrap returns a handler that logs each request next serves, once it has
// been served (or aborted).
func (l *accessLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw := &loggingWriter{ResponseWriter: w, log: l, r: r, start: time.Now()}
		defer func() {
			p := recover()
			if !lw.detached {
				lw.line(p == nil)
			}
			if p != nil {
				panic(p) // net/http closes the connection (http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(lw, r)
	})
}

// A loggingWriter notes the status and the body bytes of a response.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64

	log      *accessLog
	r        *http.Request
	start    time.Time
	detached bool // see detachLog
}

// line logs the request; ok is false when its handler panicked.
func (w *loggingWriter) line(ok bool) {
	status := w.status
	if status == 0 && ok {
		status = http.StatusOK // what net/http sends for an empty response
	}
	w.log.send(w.log.format.appendLine(nil, w.r, status, w.bytes, w.start, time.Since(w.start)))
}

// detachLog takes the log line of w's request from the access log's
// handler, which would write it when the handler returns, and returns
// the function that writes it, with the duration until then and sent
// bytes more (a WebSocket's messages, written past the ResponseWriter):
// a WebSocket's line is written when it closes.  nil without an access
// log (w wraps no loggingWriter).  Call it before the handler returns,
// once the status is sent.  What the line needs of the request is
// copied: the request and the ResponseWriter are net/http's, and kept
// they would keep its buffers.
func detachLog(w http.ResponseWriter) func(sent int64) {
	for {
		// The metrics' writer is a loggingWriter too, without a log (and
		// without a request): it counts the handler's part only.
		if lw, ok := w.(*loggingWriter); ok && lw.log != nil {
			lw.detached = true
			r := lw.r
			kept := &loggingWriter{log: lw.log, status: lw.status, bytes: lw.bytes, start: lw.start,
				r: &http.Request{Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto,
					RemoteAddr: r.RemoteAddr, Host: r.Host, Header: http.Header{}}}
			for _, key := range []string{"Referer", "User-Agent", "Authorization"} {
				if v := r.Header.Get(key); v != "" {
					kept.r.Header[key] = []string{v}
				}
			}
			return func(sent int64) {
				kept.bytes += sent
				kept.line(true)
			}
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

func (w *loggingWriter) WriteHeader(code int) {
	if w.status == 0 && codeIsFinal(code) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (w *loggingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach net/http's writer (Flush).
func (w *loggingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// appendLine appends the log line of one request, with its newline.
func (f logFormat) appendLine(b []byte, r *http.Request, status int, size int64, start time.Time, took time.Duration) []byte {
	if f == logJSON {
		return appendJSONLine(b, r, status, size, start, took)
	}
	// %h %l %u %t "%r" %>s %b
	b = appendEscaped(b, clientHost(r.RemoteAddr))
	b = append(b, " - "...)
	if user, _, ok := r.BasicAuth(); ok && user != "" {
		b = appendEscaped(b, user)
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.RequestURI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if size > 0 {
		b = strconv.AppendInt(b, size, 10)
	} else {
		b = append(b, '-')
	}
	if f == logCombined {
		// "%{Referer}i" "%{User-agent}i"
		for _, key := range []string{"Referer", "User-Agent"} {
			b = append(b, " \""...)
			if v := r.Header.Get(key); v != "" {
				b = appendEscaped(b, v)
			} else {
				b = append(b, '-')
			}
			b = append(b, '"')
		}
	}
	return append(b, '\n')
}

// jsonLine is the object of one line of a JSON access log.
type jsonLine struct {
	Time       string  `json:"time"`
	RemoteAddr string  `json:"remote_addr"`
	Method     string  `json:"method"`
	URI        string  `json:"uri"`
	Proto      string  `json:"proto"`
	Host       string  `json:"host"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMs float64 `json:"duration_ms"`
	Referer    string  `json:"referer"`
	UserAgent  string  `json:"user_agent"`
}

func appendJSONLine(b []byte, r *http.Request, status int, size int64, start time.Time, took time.Duration) []byte {
	line, err := json.Marshal(jsonLine{
		Time:       start.Format("2006-01-02T15:04:05.000Z07:00"),
		RemoteAddr: clientHost(r.RemoteAddr),
		Method:     r.Method,
		URI:        r.RequestURI,
		Proto:      r.Proto,
		Host:       r.Host,
		Status:     status,
		Bytes:      size,
		DurationMs: float64(took.Microseconds()) / 1000,
		Referer:    r.Header.Get("Referer"),
		UserAgent:  r.Header.Get("User-Agent"),
	})
	if err != nil { // cannot happen: strings and numbers only
		return b
	}
	b = append(b, line...)
	return append(b, '\n')
}

// clientHost is the client's address without its port; "-" when there is
// none (a Unix socket's peer has no name).
func clientHost(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		remoteAddr = host
	}
	if remoteAddr == "" || remoteAddr == "@" {
		return "-"
	}
	return remoteAddr
}

// appendEscaped appends s as Apache's log escapes it: '"' and '\' with a
// backslash, control characters and bytes beyond ASCII as \xhh, so that a
// client cannot forge lines or fields.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}
