package main

/*
#include "bridge.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"runtime/cgo"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// A call is what one request needs to run its handler in C.  A server
// reuses its calls; each has one cgo.Handle for its whole life, so
// handing a request to C costs no registry insert, and the generation
// tells a current request from a stale one that C may still name after
// its handler returned.
type call struct {
	handle cgo.Handle

	// Used by the request's own goroutine, and by the lane (lane.go).
	handler uintptr
	queued  time.Time        // when it began to wait for a place
	outcome C.gohttp_outcome // what the handler said
	timed   bool             // whether C times the handler, for the lane:
	ran     time.Duration    // how long it ran, once it had the GIL,
	onCPU   time.Duration    // and how much of that on a CPU
	done    chan bool        // the lane's word: true, a place is ours; false, one is free

	mu          sync.Mutex // guards everything below against C threads
	generation  uint64
	active      bool
	w           http.ResponseWriter
	r           *http.Request
	wroteHeader bool
	bodyEOF     bool
	fullDuplex  bool
	bodyBroken  bool     // an HTTP/1 body read failed: see read
	closing     bool     // the response says Connection: close
	altSvc      []string // the Alt-Svc of a server that speaks HTTP/3 too; nil: none
	status      int      // the final status code sent, 200 until one is
	declared    int64    // the Content-Length C sent, or -1
	written     int64    // body bytes written

	req  C.gohttp_request // handed to C; plain integers only
	data []byte           // the spans of req point into it

	reply    C.gohttp_reply // a response C held back, for Go to send
	replyBuf *replyBuf      // its headers and body; C writes it in C only

	headers     headerBlock // the last response's headers, for the next one
	lastHeaders headerMemo  // the last request's, likewise

	asgi *asgiState // an ASGI request's (asgicall.go); nil until the call serves one
}

// A replyBuf is a call's reply_buf (bridge.h), lent to it when it first
// enters C (invokeFn) and kept while the server keeps the call for the
// next request (a pool's Get and Put less per request): calls waiting for
// their first place in the lane hold none, and a call the server lets go
// gives its buffer back (retire).
type replyBuf [C.GOHTTP_REPLY_SIZE]byte

var replyBufs = sync.Pool{New: func() any { return new(replyBuf) }}

// dataKeep is the largest data block a call keeps for its next request.
const dataKeep = 64 << 10

// newCall makes a call with no data block yet: pack makes one as large as
// its first request needs, so that a burst of requests waiting in the
// lane holds blocks the size of their requests, not of a preset buffer.
func newCall() *call {
	c := &call{done: make(chan bool, 1)}
	c.handle = cgo.NewHandle(c)
	return c
}

// retire lets c go for good: its handle is deleted, and never made
// again, so C naming the call later gets RequestFinishedError from
// lookupCall, as for a call kept and reused.  Its request has ended.
func (c *call) retire() {
	c.handle.Delete()
	if c.replyBuf != nil {
		replyBufs.Put(c.replyBuf)
		c.replyBuf = nil
	}
}

// callOf returns the call h names, or nil if h names none: never one, or
// one its server has let go (putCall), whose handle is deleted.
func callOf(h cgo.Handle) (c *call) {
	defer func() {
		if recover() != nil { // Value panics on a deleted handle
			c = nil
		}
	}()
	c, _ = h.Value().(*call)
	return c
}

// lookupCall returns the active call named by (h, generation), or an
// error saying why C may no longer use it.  On success c.mu is held.
func lookupCall(h C.uintptr_t, generation C.uint64_t) (*call, error) {
	if h == 0 {
		return nil, errFinished("invalid call handle")
	}
	c := callOf(cgo.Handle(h))
	if c == nil {
		return nil, errFinished("the request is finished: the response writer and request are valid only until the handler returns")
	}
	c.mu.Lock()
	if !c.active || c.generation != uint64(generation) {
		c.mu.Unlock()
		return nil, errFinished("the request is finished: the response writer and request are valid only until the handler returns")
	}
	return c, nil
}

// begin makes c the call for (w, r) and packs the request for C.
func (c *call) begin(w http.ResponseWriter, r *http.Request, handler uintptr, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handler = handler
	c.generation++
	c.active = true
	c.w, c.r = w, r
	c.wroteHeader = false
	c.status, c.declared, c.written = http.StatusOK, -1, 0
	c.bodyEOF = r.Body == nil || r.Body == http.NoBody
	c.fullDuplex = false
	c.bodyBroken, c.closing = false, false
	c.reply = C.gohttp_reply{capacity: C.GOHTTP_REPLY_SIZE}
	c.pack(r, names)
}

// end retires the call, first sending the response C held back if the
// handler succeeded; it reports whether the response had started.
func (c *call) end(outcome C.gohttp_outcome) (started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reply.status != 0 && outcome == C.GOHTTP_HANDLED {
		c.sendReply()
	}
	started = c.wroteHeader
	c.active = false
	c.w, c.r = nil, nil
	if cap(c.data) > dataKeep {
		c.data = nil // pack makes one the size of the next request
	}
	return started
}

// pack lays the request out in c.data and describes it in c.req.
func (c *call) pack(r *http.Request, names []string) {
	b := c.data[:0]
	if b == nil {
		b = make([]byte, 0, packedSize(r, names))
	}
	put := func(field int, s string) {
		c.req.field[field] = C.gohttp_span{off: C.uint32_t(len(b)), len: C.uint32_t(len(s))}
		b = append(b, s...)
	}
	put(C.GOHTTP_F_METHOD, r.Method)
	put(C.GOHTTP_F_URL, r.RequestURI)
	put(C.GOHTTP_F_PATH, r.URL.Path)
	put(C.GOHTTP_F_QUERY, r.URL.RawQuery)
	put(C.GOHTTP_F_HOST, r.Host)
	put(C.GOHTTP_F_PROTO, r.Proto)
	put(C.GOHTTP_F_REMOTE_ADDR, r.RemoteAddr)
	put(C.GOHTTP_F_SCHEME, requestScheme(r))
	c.req.field[C.GOHTTP_F_LOCAL_ADDR] = C.gohttp_span{} // ASGI's: see packLocalAddr
	c.req.field[C.GOHTTP_F_ASGI_TLS] = C.gohttp_span{}   // and packASGITLS

	start, count := len(b), 0
	if packed, n, ok := c.lastHeaders.same(r.Header); ok {
		b, count = append(b, packed...), n
	} else {
		m := &c.lastHeaders
		m.forget()
		for key, values := range r.Header {
			for _, v := range values {
				b = appendItem(appendItem(b, key), v)
				count++
			}
			m.note(key, values)
		}
		m.keep(b[start:], count)
	}
	c.req.field[C.GOHTTP_F_HEADERS] = C.gohttp_span{off: C.uint32_t(start), len: C.uint32_t(len(b) - start)}
	c.req.header_count = C.uint32_t(count)

	start = len(b)
	for _, name := range names {
		b = appendItem(appendItem(b, name), r.PathValue(name))
	}
	c.req.field[C.GOHTTP_F_PATH_VALUES] = C.gohttp_span{off: C.uint32_t(start), len: C.uint32_t(len(b) - start)}
	c.req.path_value_count = C.uint32_t(len(names))

	// Cleartext costs one test and one store; TLS a few short strings,
	// and the client's certificates if it sent some.
	c.req.field[C.GOHTTP_F_TLS] = C.gohttp_span{}
	if r.TLS != nil {
		start = len(b)
		b = appendTLSState(b, r.TLS)
		c.req.field[C.GOHTTP_F_TLS] = C.gohttp_span{off: C.uint32_t(start), len: C.uint32_t(len(b) - start)}
	}

	if len(b) == 0 {
		b = append(b, 0) // so that &b[0] exists; no span covers it
	}
	c.data = b
	c.req.content_length = C.int64_t(r.ContentLength)
	if r.ContentLength < 0 || (r.ContentLength == 0 && !c.bodyEOF) {
		c.req.content_length = -1
	}
	c.req.call = C.uintptr_t(c.handle)
	c.req.generation = C.uint64_t(c.generation)
}

// A headerMemo is the request headers a call packed last, so that the
// next request's, when they are the same, are copied rather than packed
// again: a client on a keep-alive connection sends the same headers with
// every request.  Iterating a header map costs a random start and a walk
// of its slots (about 250 instructions, and 65 more a key); looking its
// keys up costs about 60 a key.
type headerMemo struct {
	keys   []string // each key once, as the map had them
	counts []int    // how many values each has
	values []string // all their values, key after key
	packed []byte   // the pairs as pack laid them out; nil: none kept
	pairs  int
}

// maxKeptRequestHeaders is the largest packed request header block a
// call remembers.
const maxKeptRequestHeaders = 4096

// same returns the pairs packed last and their count, if h holds just
// the headers of last time: the same keys and values, each key's values
// in the same order (the order of keys, which a map does not keep, does
// not matter to C).
func (m *headerMemo) same(h http.Header) ([]byte, int, bool) {
	if m.packed == nil || len(h) != len(m.keys) {
		return nil, 0, false
	}
	at := 0
	for i, key := range m.keys {
		values, ok := h[key]
		n := m.counts[i]
		if !ok || len(values) != n { // a key of no values is a key still
			return nil, 0, false
		}
		for j, v := range values {
			if v != m.values[at+j] {
				return nil, 0, false
			}
		}
		at += n
	}
	return m.packed, m.pairs, true
}

// forget drops what m kept, before pack notes the headers of a request.
func (m *headerMemo) forget() {
	m.keys, m.counts, m.values = m.keys[:0], m.counts[:0], m.values[:0]
	m.packed = m.packed[:0]
}

// note adds key and its values to what m is told of a request.
func (m *headerMemo) note(key string, values []string) {
	m.keys = append(m.keys, key)
	m.counts = append(m.counts, len(values))
	m.values = append(m.values, values...)
}

// keep ends what m is told: the request's pairs, packed, count of them;
// too large a block is not kept, and same finds nothing.  What m holds
// otherwise is at most a few KiB, a call's for as long as the server
// keeps the call.
func (m *headerMemo) keep(packed []byte, count int) {
	if len(packed) > maxKeptRequestHeaders {
		*m = headerMemo{} // nor their strings, which may be large
		return
	}
	m.packed = append(m.packed, packed...) // forget emptied it
	if m.packed == nil {
		m.packed = []byte{} // kept, and empty: a request without headers
	}
	m.pairs = count
}

// packedSize is about how many bytes pack lays r out in: a new call's
// data block is made that size.  It leaves room for an ASGI request's
// local address (packLocalAddr); TLS state, rarer and larger, grows it.
func packedSize(r *http.Request, names []string) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.URL.Path) + len(r.URL.RawQuery) +
		len(r.Host) + len(r.Proto) + len(r.RemoteAddr) + len("https") + 64
	for key, values := range r.Header {
		for _, v := range values {
			n += 8 + len(key) + len(v)
		}
	}
	for _, name := range names {
		n += 8 + len(name) + len(r.PathValue(name))
	}
	return n
}

// packLocalAddr adds local, the address the request came in on, to the
// request block begin packed; c.mu is held.  Only ASGI's scope has it
// (its "server"): native and WSGI handlers never read it, and finding
// and formatting it would cost them a context lookup and 3 allocations.
func (c *call) packLocalAddr(local string) {
	c.req.field[C.GOHTTP_F_LOCAL_ADDR] = C.gohttp_span{off: C.uint32_t(len(c.data)), len: C.uint32_t(len(local))}
	c.data = append(c.data, local...)
}

// appendItem appends s to b as one item of a packed list (bridge.h).
func appendItem(b []byte, s string) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// writeHeader sends the status line and the headers packed by C.
func (c *call) writeHeader(code int, headers []byte) error {
	return c.writeHeaderSized(code, headers, -1)
}

// writeHeaderSized is writeHeader for a response whose whole body is
// size bytes (-1: unknown yet), declared as its Content-Length unless
// the headers declare one or the response has no body.
func (c *call) writeHeaderSized(code int, headers []byte, size int64) error {
	return c.writeHeaderAs(code, headers, size, -1)
}

// netHTTPBuffered is how much of a body net/http's HTTP/1 server holds
// before it writes (its bufferBeforeChunkingSize): a whole body that
// fits, written by a handler that has returned, it counts itself, and
// sends its Content-Length without a header map entry.
const netHTTPBuffered = 2048

// writeHeaderAs is writeHeaderSized, or with held >= 0, the start of a
// response whose whole body, held bytes, follows before the handler
// returns (one C held back, an ASGI app's last body).  A Content-Length
// that says just that, declared or known from size, is then left to
// net/http's HTTP/1 server to count and send, as it does for a Go
// handler's small response: one header fewer in the map it clones,
// sorts and writes.
func (c *call) writeHeaderAs(code int, headers []byte, size, held int64) error {
	if c.wroteHeader {
		return errState("the response has already started: headers and status can no longer change")
	}
	if code < 100 || code > 999 {
		return errInvalid("invalid status code %d: want 100 to 999", code)
	}
	h := c.w.Header()
	clear(h) // C sends the whole header set each time (after a 1xx too)
	if err := c.headers.set(h, headers); err != nil {
		return err
	}
	if !c.headers.hasDate && codeIsFinal(code) {
		h["Date"] = currentDate() // see date.go
	}
	counted := held >= 0 && held <= netHTTPBuffered && c.r.ProtoMajor == 1 &&
		codeAllowsBody(code) && c.r.Method != http.MethodHead
	if size >= 0 && c.headers.declared < 0 && codeAllowsBody(code) && c.r.Method != http.MethodHead &&
		!(counted && size == held) {
		h["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	}
	if counted && held == c.headers.declared && c.headers.bareLength {
		delete(h, "Content-Length")
	}
	c.closing = c.headers.closing
	if c.bodyBroken && codeIsFinal(code) {
		h["Connection"] = []string{"close"}
		c.closing = true
	}
	if c.r.ProtoMajor == 3 {
		dropHopHeaders(h)
	} else if c.altSvc != nil && codeIsFinal(code) && !c.headers.hasAltSvc {
		h["Alt-Svc"] = c.altSvc // an app's own (another port, "clear") wins
	}
	c.w.WriteHeader(code)
	if codeIsFinal(code) {
		c.wroteHeader = true
		c.status = code
		c.declared = c.headers.declared
		if size >= 0 && c.declared < 0 {
			c.declared = size
		}
	}
	return nil
}

// closeIfBroken makes sure that a connection whose request body broke
// (see read) serves no other request, once the handler has returned: a
// response not yet started will say Connection: close; one that started
// before the break, and so could not, is flushed and the connection is
// closed after it.  It panics with http.ErrAbortHandler for that, so call
// it last, and without c.mu.
func (c *call) closeIfBroken(w http.ResponseWriter, started bool) {
	if !c.bodyBroken || c.closing {
		return
	}
	if !started {
		w.Header().Set("Connection", "close")
		return
	}
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// sendReply sends the response C held back in c.reply and c.replyBuf.
// Errors are those of a client gone away: the handler has returned, and
// net/http closes the connection.
func (c *call) sendReply() {
	headers := c.replyBuf[:c.reply.header_len]
	body := c.replyBuf[c.reply.header_len : c.reply.header_len+c.reply.body_len]
	if c.writeHeaderAs(int(c.reply.status), headers, -1, int64(len(body))) != nil {
		return
	}
	if len(body) > 0 {
		c.write(body)
	}
}

// write sends p, which C owns, as part of the body.
//
// The request's context is no guide here: Go cancels it when the client
// half-closes its side, and a half-closed client still reads the answer.
func (c *call) write(p []byte) (int, error) {
	c.wroteHeader = true
	n, err := c.w.Write(p)
	c.written += int64(n)
	switch {
	case err == nil: // most writes: no errors.Is walk
		return n, nil
	case errors.Is(err, http.ErrBodyNotAllowed):
		return n, errInvalid("%v: the status code or method does not allow one", err)
	case errors.Is(err, http.ErrContentLength):
		return n, errInvalid("%v: the body is longer than the Content-Length header says", err)
	}
	return n, errClientGone
}

// errClientGone is raised in Python as BrokenPipeError, an OSError.
var errClientGone = &statusError{
	status: C.GOHTTP_EIO,
	errno:  syscall.EPIPE,
	msg:    "the client has gone away: the connection is closed",
}

// errTruncated is raised in Python as ConnectionResetError, an OSError.
var errTruncated = &statusError{
	status: C.GOHTTP_EIO,
	errno:  syscall.ECONNRESET,
	msg:    "the request body is truncated: the client closed the connection before sending all of it",
}

// flush sends what the response has buffered to the client.
func (c *call) flush() error {
	c.wroteHeader = true
	if err := http.NewResponseController(c.w).Flush(); err != nil {
		return errClientGone
	}
	return nil
}

// read reads up to len(p) bytes of the request body into p, which C owns.
// It returns 0, nil at the end of the body.
func (c *call) read(p []byte) (int, error) {
	return c.readBody(p, true)
}

// readBody is read; with fill false, it returns after one read of the
// body, with what the client has sent so far (an ASGI app gets the
// chunks as they come).
func (c *call) readBody(p []byte, fill bool) (int, error) {
	if c.bodyEOF || len(p) == 0 {
		return 0, nil
	}
	if !c.fullDuplex && !c.wroteHeader {
		// By default net/http's HTTP/1 server throws away the unread
		// body once the response starts, so a handler that echoes as it
		// reads would lose the rest.  A handler that reads before it
		// writes may interleave the two from now on.  (Asked for every
		// request, a body left unread would instead make Go close the
		// connection with data pending: a reset that eats the answer.)
		// HTTP/2 is always full duplex and says so with an error.
		_ = http.NewResponseController(c.w).EnableFullDuplex()
		c.fullDuplex = true
	}
	body, generation := c.r.Body, c.generation
	c.mu.Unlock() // a body read may block; writes may go on meanwhile
	n, err := 0, error(nil)
	for n < len(p) && err == nil && (fill || n == 0) {
		var m int
		m, err = body.Read(p[n:])
		n += m
	}
	c.mu.Lock()
	if !c.active || c.generation != generation {
		return 0, errFinished("the request finished while its body was being read")
	}
	if err != nil && err != io.EOF && c.fullDuplex && c.r.ProtoMajor == 1 {
		// A body cut short or with broken framing (a bad chunk size):
		// where it ends on the wire is unknown, so what follows cannot
		// be read as the next request.  net/http closes the connection
		// after such a body itself, except for a full-duplex response,
		// which a body read before the response starts makes (above).
		// See closeIfBroken.  (Without full duplex, the body was thrown
		// away when the response started, and net/http's rule held.)
		c.bodyBroken = true
	}
	var mbe *http.MaxBytesError
	switch {
	case err == io.EOF:
		c.bodyEOF = true
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, errTruncated
	case errors.As(err, &mbe):
		return n, errInvalid("request body too large: the limit is %d bytes", mbe.Limit)
	case err != nil:
		return n, err
	}
	return n, nil
}
