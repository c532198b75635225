package main

// One ASGI request, in Go: the request's own goroutine does all its
// network I/O, on what the loop asks through the gohttp_asgi_* exports;
// the loop never waits on the network.

/*
#include "bridge.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/http"
	"os"
	"strings"
	"unsafe"
)

// asgiHighWater is how many response bytes may wait unwritten before
// send() waits too: a slow client slows the app, not the loop.
const asgiHighWater = 64 << 10

// asgiChunk is the most a receive() gets in one http.request event.
const asgiChunk = 64 << 10

// An asgiLoan is a body C lent rather than gave (bridge.h, rule 8g): the
// n bytes at p are C's memory, a read-only buffer Python holds, which the
// request's goroutine writes from.  loan is C's name for it, posted back
// in a RELEASE event once the goroutine is done with p (giveBack); at is
// where it goes among the copied bytes: after the first at bytes of out.
type asgiLoan struct {
	p    unsafe.Pointer
	n    int
	loan C.uintptr_t
	at   int
}

// asgiState is what an ASGI request adds to its call.
type asgiState struct {
	loop      *asgiLoop
	kick      chan struct{} // the loop asked for something: see serve
	chunk     []byte        // the goroutine's read buffer
	lent      bool          // a BODY event points into chunk: see read
	stage     []byte        // the goroutine's copies of a loan: see writeLoans
	taken     []asgiLoan    // the loans the goroutine took, until it gives them back
	takenSize int           // their bytes

	// Guarded by the call's mu: set by the exports (the loop's thread),
	// taken by the goroutine.
	startSet    bool       // http.response.start came
	headerSent  bool       // and the goroutine has taken it
	status      int        // its status
	headers     []byte     // its headers, packed by C, copied
	out, spare  []byte     // body bytes not yet taken; the buffer they will swap with
	loans       []asgiLoan // bodies C lent, not yet taken, among out's bytes
	loaned      int        // their bytes
	inflight    int        // body bytes the goroutine is writing
	final       bool       // the last http.response.body came
	wantRead    bool       // receive() waits for a chunk
	wantWritten bool       // send() waits for the bytes to drain
	watch       bool       // receive() waits for the news of a disconnect: see serve
	finished    bool       // the app is done
	outcome     C.gohttp_outcome
	gone        bool // a write failed: the client has gone, sends are refused
	told        bool // DISCONNECT was posted

	ws *wsState // a WebSocket's (asgiws.go); nil for HTTP

	// http.response.pathsend's file, not yet taken, and its size when
	// it was opened; the Link headers of early hints (103) not yet sent;
	// the trailers of the response, once they came.  Guarded by mu too.
	file     *os.File
	fileSize int64
	hints    [][]byte
	trailers []byte

	// The last local address and its string: a keep-alive connection's
	// requests, and most others, come in on the same listener.
	local    net.Addr
	localStr string
}

// handleASGI registers a route whose requests go to the ASGI app value
// (C's) on loop.
func (s *server) handleASGI(pattern string, loop *asgiLoop, app uintptr) error {
	return s.add(pattern, s.asgiRoute(loop, app, wildcardNames(pattern)))
}

// asgiRoute returns the http.Handler of an ASGI app value on loop.
func (s *server) asgiRoute(loop *asgiLoop, app uintptr, names []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocket(r) {
			s.serveWebSocket(w, r, loop, app, names)
			return
		}
		c := s.getCall()
		defer s.putCall(c)
		c.begin(w, r, app, names)
		a := c.asgiBegin(loop, r)
		outcome := C.gohttp_outcome(C.GOHTTP_UNAVAILABLE)
		if loop.post(asgiEvent{kind: C.GOHTTP_ASGI_NEW, c: c, gen: c.generation}) {
			outcome = a.serve(c, r)
		}
		started := c.end(outcome)
		s.lane.finished.Add(1)
		if outcome == C.GOHTTP_FAILED && s.metrics != nil {
			s.metrics.failed(r)
		}
		answer(w, r, outcome, started)
	})
}

// asgiBegin readies c's ASGI state for the request r begin just set up.
func (c *call) asgiBegin(loop *asgiLoop, r *http.Request) *asgiState {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.asgi
	if a == nil {
		a = &asgiState{kick: make(chan struct{}, 1)}
		c.asgi = a
	}
	select {
	case <-a.kick: // a kick left over from the last request
	default:
	}
	*a = asgiState{loop: loop, kick: a.kick, chunk: a.chunk, stage: a.stage,
		headers: a.headers[:0], out: a.out[:0], spare: a.spare[:0],
		local: a.local, localStr: a.localStr}
	if cap(a.out) > asgiHighWater*2 {
		a.out = nil // an app's one huge send is not kept for the next
	}
	if cap(a.spare) > asgiHighWater*2 {
		a.spare = nil // nor the array it went out in (a 1 MiB body kept 2 MiB a connection)
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if local != a.local && !sameTCPAddr(local, a.local) {
			a.local, a.localStr = local, addrString(local)
		}
		c.packLocalAddr(a.localStr)
	}
	if r.TLS != nil {
		c.packASGITLS(r)
	}
	return a
}

// sameTCPAddr reports whether a and b are equal TCP addresses: each
// connection has a *net.TCPAddr of its own, and a call serves many
// connections of one listener, so that comparing the pointers alone
// formatted the same address again for most requests (0.7 a request at
// 50 connections, ~900 instructions each).
func sameTCPAddr(a, b net.Addr) bool {
	x, ok := a.(*net.TCPAddr)
	y, ok2 := b.(*net.TCPAddr)
	return ok && ok2 && x.Port == y.Port && x.Zone == y.Zone && bytes.Equal(x.IP, y.IP)
}

// packASGITLS adds to the request block of an ASGI request over TLS
// what only its scope's "tls" extension reports, as the packed list
// bridge.h describes for GOHTTP_F_ASGI_TLS: the certificate the server
// sent (DER; empty if unknown), and the subject of the client's
// certificate, RFC 4514 style (empty without one).  c.mu is held.
// Cleartext requests and the other adapters never pay for it.
func (c *call) packASGITLS(r *http.Request) {
	var der []byte
	if served, ok := r.Context().Value(servedCertKey{}).(*servedCert); ok {
		if cert := served.cert.Load(); cert != nil && len(cert.Certificate) > 0 {
			der = cert.Certificate[0]
		}
	}
	name := ""
	if peers := r.TLS.PeerCertificates; len(peers) > 0 {
		name = peers[0].Subject.String()
	}
	start := len(c.data)
	b := binary.NativeEndian.AppendUint32(c.data, uint32(len(der)))
	b = appendItem(append(b, der...), name)
	c.data = b
	c.req.field[C.GOHTTP_F_ASGI_TLS] = C.gohttp_span{off: C.uint32_t(start), len: C.uint32_t(len(b) - start)}
}

// wake tells the goroutine that the loop asked for something.
func (a *asgiState) wake() {
	select {
	case a.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// serve does what the loop asks until the app has finished, and returns
// its outcome.  The work is taken under c.mu and done without it, so
// that the loop's exports never wait on the network.
//
// The request's context is watched only once the app waits for the news
// of a disconnect (gohttp_asgi_watch: a receive() after the whole body).
// Until then the goroutine waits on kick alone, not in a select with a
// Done channel made for each request (about 1,000 instructions a
// request: the channel, the select's locks and sudogs); a client that
// goes meanwhile is found out by the next read or write.
func (a *asgiState) serve(c *call, r *http.Request) C.gohttp_outcome {
	var done <-chan struct{}
	watching := false
	for {
		if done == nil {
			<-a.kick
		} else {
			select {
			case <-a.kick:
			case <-done:
				// The client closed its side: maybe the whole
				// connection, maybe only its sending half, and a
				// half-closed client still reads the answer.  The app
				// learns it (its receive() returns http.disconnect);
				// writes go on until one fails.
				done = nil
				a.disconnect(c, false)
			}
		}
		c.mu.Lock()
		if a.watch && !watching {
			watching, done = true, r.Context().Done()
		}
		finished, outcome := a.finished, a.outcome
		if finished && outcome != C.GOHTTP_HANDLED {
			file := a.file // the app failed after its pathsend
			a.file = nil
			c.mu.Unlock()
			if file != nil {
				file.Close()
			}
			a.reclaim(c)
			return outcome // unsent: a 500 if nothing went out, else an abort
		}
		status, headers := 0, []byte(nil)
		if a.startSet && !a.headerSent && (len(a.out) > 0 || len(a.loans) > 0 || a.final || finished) {
			status, headers, a.headerSent = a.status, a.headers, true
		}
		// out, taken from a.out, is the goroutine's until write gives it
		// back as the spare: a.out and a.spare never share an array, or
		// the loop's next send() would write over bytes not yet sent
		// (net/http's HTTP/2 writer reads them as the client's window
		// opens).  With nothing to take, out stays nil, not a.out.
		var out []byte
		final, file, size := a.final, a.file, a.fileSize
		if len(a.out) > 0 {
			out = a.out
			a.out, a.spare, a.inflight = a.spare[:0], nil, len(out)
		}
		if a.loans != nil { // in order among out's bytes, the goroutine's too
			a.taken, a.takenSize, a.loans = a.loans, a.loaned, nil
			a.inflight, a.loaned = a.inflight+a.loaned, 0
		}
		a.file = nil
		hints, trailers := a.hints, a.trailers
		a.hints, a.trailers = nil, nil
		read := a.wantRead
		a.wantRead = false
		gone := a.gone
		c.mu.Unlock()

		for _, hint := range hints {
			if !gone {
				a.earlyHint(c, hint)
			}
		}
		if file != nil {
			if !gone {
				a.sendFile(c, status, headers, file, size)
			}
			file.Close()
		}
		if file == nil && !gone && (status != 0 || len(out) > 0 || a.taken != nil) {
			a.write(c, status, headers, out, final && trailers == nil, finished)
		} else if a.taken != nil {
			a.giveBack(c, false) // the client has gone: nothing goes out
		}
		if trailers != nil && !gone {
			a.setTrailers(c, trailers)
		}
		if read {
			a.read(c)
		}
		if finished {
			a.reclaim(c)
			return outcome
		}
	}
}

// reclaim takes the read buffer back from a BODY event the loop may not
// have taken (the app finished without the chunk it asked for): the
// event is stale, and the next request on this call reuses the buffer.
// The loans the app's last messages made, if unsent (it failed), go
// back to C.
func (a *asgiState) reclaim(c *call) {
	c.mu.Lock()
	a.taken = a.loans
	a.loans, a.loaned = nil, 0
	c.mu.Unlock()
	if a.taken != nil {
		a.giveBack(c, false)
	}
	if a.lent {
		a.loop.q.drop(func(e asgiEvent) bool { return e.c == c && e.kind == C.GOHTTP_ASGI_BODY })
		a.lent = false
	}
}

// write sends the status and headers (status 0: sent already), then out
// with the loans taken among its bytes, flushing unless the handler is
// about to return.  It gives out (nil when there is no body to send) back
// as the spare buffer, the loans back to C, and wakes a send() that waits
// for the bytes to drain.  (What only loans need is in functions of
// their own: a goroutine's stack starts small, and one that must grow
// for a hello world costs a copy per new connection.)
func (a *asgiState) write(c *call, status int, headers, out []byte, final, finished bool) {
	var err error
	if status != 0 {
		size, held := int64(-1), int64(-1)
		if final {
			size = int64(len(out) + a.takenSize) // the whole body is here
			if finished && a.taken == nil {
				held = size // written, then the handler returns
			}
		}
		err = c.writeHeaderAs(status, headers, size, held)
	}
	if err == nil && a.taken != nil {
		err = a.writeLoans(c, out)
	} else if err == nil && len(out) > 0 {
		_, err = c.write(out)
	}
	if err == nil && !finished {
		err = c.flush()
	}
	c.mu.Lock()
	if out != nil && err == nil {
		a.spare = out[:0] // serve took it from a.out: free again
	}
	// After a failed write out is dropped, not kept as the spare: on an
	// HTTP/2 stream the client reset, Write returns while the frame
	// writer may still read it (writeLoans says more), and the spare is
	// what the next send() of this call, maybe its next request's,
	// writes into.
	a.inflight = 0
	// After a failed write nothing drains: a waiting send() learns that
	// from disconnect, which needs wantWritten as it was.
	written := err == nil && a.wantWritten && len(a.out)+a.loaned <= asgiHighWater
	if written {
		a.wantWritten = false
	}
	c.mu.Unlock()
	if a.taken != nil {
		a.giveBack(c, written)
	} else if written {
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WRITTEN, c: c, gen: c.generation})
	}
	if err != nil {
		a.disconnect(c, true) // the client has gone, or the headers were bad
	}
}

// writeLoans writes out with the loans taken among its bytes.  Over
// HTTP/1 a loan's bytes go from C's memory to the connection: net/http's
// HTTP/1 writer is done with them once Write returns, as io.Writer says.
// HTTP/2's is not always: on a stream the client reset, Write returns
// while its frame writer, a goroutine of its own, may still read the
// buffer, which C would then release under it.  So HTTP/2 and HTTP/3 get
// copies, a block at a time, in a buffer of Go's that is dropped, not
// reused, after an error.
//
//go:noinline
func (a *asgiState) writeLoans(c *call, out []byte) (err error) {
	at := 0
	for _, l := range a.taken {
		if l.at > at {
			if _, err = c.write(out[at:l.at]); err != nil {
				return err
			}
			at = l.at
		}
		p := unsafe.Slice((*byte)(l.p), l.n)
		if c.r.ProtoMajor == 1 {
			_, err = c.write(p)
		}
		for c.r.ProtoMajor != 1 && err == nil && len(p) > 0 {
			if a.stage == nil {
				a.stage = make([]byte, asgiChunk)
			}
			n := copy(a.stage, p)
			if _, err = c.write(a.stage[:n]); err != nil {
				a.stage = nil // the frame writer may still read it
			}
			p = p[n:]
		}
		if err != nil {
			return err
		}
	}
	if len(out) > at {
		_, err = c.write(out[at:])
	}
	return err
}

// giveBack gives the loans taken back to C, written or not, and with
// written the go-ahead to a send() that waits, in one batch and after
// them: C releases the loans on the loop's thread (bridge.h, rule 8g),
// and the app's next send() finds their memory released.  The goroutine
// no longer reads them.
//
//go:noinline
func (a *asgiState) giveBack(c *call, written bool) {
	events := make([]asgiEvent, 0, len(a.taken)+1)
	for _, l := range a.taken {
		events = append(events, asgiEvent{kind: C.GOHTTP_ASGI_RELEASE, loan: l.loan})
	}
	if written {
		events = append(events, asgiEvent{kind: C.GOHTTP_ASGI_WRITTEN, c: c, gen: c.generation})
	}
	a.taken = nil
	if written {
		a.loop.q.postAlways(events...)
	} else {
		a.loop.q.postLater(events...) // no one waits: the next batch takes them
	}
}

// sendFile sends the status and headers (status 0: sent already) and f,
// the file of an http.response.pathsend, size bytes, the whole body:
// from the file to the socket with sendfile(2) where net/http can
// (sendOpenFile).  The app declares the Content-Length, if it does
// (Starlette's FileResponse does); a file that grew since is cut to it.
func (a *asgiState) sendFile(c *call, status int, headers []byte, f *os.File, size int64) {
	var err error
	if status != 0 {
		err = c.writeHeaderSized(status, headers, size)
	}
	if err == nil {
		if left := c.declared - c.written; c.declared >= 0 && left < size {
			size = left
		}
		_, err = c.sendOpenFile(f, 0, size)
	}
	if err != nil {
		a.disconnect(c, true) // the client has gone, or the file broke
	}
}

// earlyHint sends a 103 Early Hints response with the headers packed in
// block (Link, each): net/http writes and flushes a 1xx at once, before
// the final response, over HTTP/1.1 and HTTP/2 alike, and a write error
// shows at the next write.  The final response's headers replace these
// (writeHeaderSized clears the map first).  No Flush here: it would send
// the final response's headers too, a 200 of these.
func (a *asgiState) earlyHint(c *call, block []byte) {
	h := c.w.Header()
	clear(h)
	if unpackInto(h, block) == nil { // C checked every name and value
		c.w.WriteHeader(http.StatusEarlyHints)
	}
}

// setTrailers makes the headers packed in block the response's
// trailers, which net/http sends once the handler returns: after the
// last chunk of an HTTP/1.1 chunked body, in a HEADERS frame after
// HTTP/2's data.  (A body whose Content-Length the app declared is not
// chunked: HTTP/1.1 has nowhere to put them then, and they are dropped.)
func (a *asgiState) setTrailers(c *call, block []byte) {
	t := http.Header{}
	if unpackInto(t, block) != nil {
		return // C checked every name and value
	}
	h := c.w.Header()
	for key, values := range t {
		h[http.TrailerPrefix+key] = values
	}
}

// read reads the next chunk of the body and hands it to the loop; a
// body that cannot be read (the client left, or it is too large) is a
// disconnect.
func (a *asgiState) read(c *call) {
	if a.chunk == nil {
		a.chunk = make([]byte, asgiChunk)
	}
	a.lent = true // until C takes the BODY below: see serve
	c.mu.Lock()
	n, err := c.readBody(a.chunk, false)
	more := !c.bodyEOF
	c.mu.Unlock()
	if err != nil {
		a.disconnect(c, false)
		return
	}
	a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_BODY, c: c, gen: c.generation, chunk: a.chunk[:n], more: more})
}

// disconnect tells the loop, once, that the client has gone; with
// failed, a write failed, and sends are refused from now on.  A send()
// that began to wait for its bytes to drain after the loop was told (the
// request's context ended first: maybe only a half-close, so sends went
// on) is told again when a write fails, since nothing will drain: else
// the app waits for ever, and so does this goroutine, for the app.
func (a *asgiState) disconnect(c *call, failed bool) {
	c.mu.Lock()
	was := a.told
	a.told = true
	wake := was && failed && !a.gone && a.wantWritten
	a.gone = a.gone || failed
	if wake {
		a.wantWritten = false
	}
	c.mu.Unlock()
	if !was || wake {
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_DISCONNECT, c: c, gen: c.generation})
	}
}

// lookupASGI is lookupCall for an ASGI request: on success c.mu is held.
func lookupASGI(h C.uintptr_t, generation C.uint64_t) (*call, *asgiState, error) {
	c, err := lookupCall(h, generation)
	if err != nil {
		return nil, nil, err
	}
	if c.asgi == nil || c.asgi.loop == nil {
		c.mu.Unlock()
		return nil, nil, errFinished("not an ASGI request")
	}
	return c, c.asgi, nil
}

// acceptsTrailers reports whether the client of r said it takes
// trailers: TE: trailers (RFC 9110 10.1.4).
func acceptsTrailers(r *http.Request) bool {
	for _, v := range r.Header["Te"] {
		for part := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(name), "trailers") {
				return true
			}
		}
	}
	return false
}
