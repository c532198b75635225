package main

// The exports of the ASGI path (asgiloop.go, asgicall.go).  Same rules as
// exports.go: a gohttp_status back, err filled on failure, no panic into
// C; bridge.h's rule 8 says who owns what.  Every one of them is called
// by the event loop's thread, with the GIL held: none waits on the
// network.

/*
#include "bridge.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// gohttp_asgi_loop_new makes an event loop's queue and stores its handle
// in *out and the descriptor to poll for reading in *fd.  Both are valid
// until gohttp_asgi_loop_free.
//
//export gohttp_asgi_loop_new
func gohttp_asgi_loop_new(out *C.uintptr_t, fd *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	l, e := newASGILoop()
	if e != nil {
		return report(err, e)
	}
	*out = C.uintptr_t(cgo.NewHandle(l))
	*fd = C.int(l.fd.r)
	return C.GOHTTP_OK
}

// gohttp_asgi_take clears the loop's descriptor and copies the queued
// events, oldest first, into events (room for nevents) and their bytes
// into buf (capacity bytes), while both have room; it stores how many
// events in *taken and how many bytes of buf in *used.  Both arrays are
// C's, written during the call only.  *more is 1 when events remain: call
// again at once, since no wake comes for them; *need, when not even the
// first fitted, is the capacity it needs.  *closed is 1 once
// gohttp_asgi_loop_close was called.
//
//export gohttp_asgi_take
func gohttp_asgi_take(h C.uintptr_t, events *C.gohttp_asgi_event, nevents C.size_t, buf *C.char, capacity C.size_t, taken *C.size_t, used *C.size_t, need *C.size_t, more *C.int, closed *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*taken, *used, *need, *more, *closed = 0, 0, 0, 0, 0
	l, e := lookupLoop(h)
	if e != nil {
		return report(err, e)
	}
	n, u, nd, m := l.take(unsafe.Slice(events, int(nevents)), cBytes(buf, capacity))
	*taken, *used, *need = C.size_t(n), C.size_t(u), C.size_t(nd)
	if m {
		*more = 1
	}
	if l.q.isClosed() {
		*closed = 1
	}
	return C.GOHTTP_OK
}

// gohttp_asgi_loop_close refuses new requests on the loop from now on:
// they get a 503.  The loop is woken, to take what was queued before.
//
//export gohttp_asgi_loop_close
func gohttp_asgi_loop_close(h C.uintptr_t) (status C.gohttp_status) {
	defer recoverTo(nil, &status)
	return closeLoop(h, false)
}

// gohttp_asgi_loop_free closes the loop (if not yet), closes its
// descriptor and releases its handle; h is invalid afterwards.  Call it
// once the loop has stopped polling the descriptor.
//
//export gohttp_asgi_loop_free
func gohttp_asgi_loop_free(h C.uintptr_t) (status C.gohttp_status) {
	defer recoverTo(nil, &status)
	return closeLoop(h, true)
}

// closeLoop closes the loop of h, and with free its descriptor and h.
func closeLoop(h C.uintptr_t, free bool) C.gohttp_status {
	l, e := lookupLoop(h)
	if e != nil {
		return report(nil, e)
	}
	l.q.close()
	if free {
		l.q.stop() // C took the loans given back; later ones are lost (bridge.h 8g)
		l.fd.close()
		cgo.Handle(h).Delete()
	}
	return C.GOHTTP_OK
}

// gohttp_server_handle_asgi registers pattern (n bytes, not
// NUL-terminated) as a route whose requests go, as GOHTTP_ASGI_NEW
// events (GOHTTP_ASGI_WS_CONNECT for a WebSocket handshake), to the loop
// with app as their value.  With websocket 1, the route serves
// WebSocket handshakes only: Go answers other requests with 426.  app must stay valid
// until gohttp_server_free returned GOHTTP_OK; the loop until the server
// is shut down.
//
//export gohttp_server_handle_asgi
func gohttp_server_handle_asgi(h C.uintptr_t, pattern *C.char, n C.size_t, loop C.uintptr_t, app C.uintptr_t, websocket C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	l, e := lookupLoop(loop)
	switch {
	case e != nil:
	case websocket != 0:
		e = s.handleASGIWebSocket(C.GoStringN(pattern, C.int(n)), l, uintptr(app))
	default:
		e = s.handleASGI(C.GoStringN(pattern, C.int(n)), l, uintptr(app))
	}
	return report(err, e)
}

// gohttp_asgi_body adds the n bytes at p to the response body, the last
// part of it unless more is 1, and wakes the request's goroutine to write
// them.  The first body carries http.response.start too, which C holds
// until then (one crossing for a response sent whole): code, its status,
// and the hn bytes at headers (a packed list of key, value pairs, keys in
// canonical form); a later body passes code 0.  All bytes are read during
// the call only, but for a body C lends: with loan not 0, Go keeps p, not
// a copy, until it posts a GOHTTP_ASGI_RELEASE event with loan (bridge.h,
// rule 8g); if the call fails, Go kept nothing.  *pending is 1 when more
// is 1 and more than the high-water mark waits unwritten: the app's
// send() should then wait for a GOHTTP_ASGI_WRITTEN event (or a
// disconnect).  After the last part it never waits: no more can come.
//
//export gohttp_asgi_body
func gohttp_asgi_body(h C.uintptr_t, generation C.uint64_t, code C.int32_t, headers *C.char, hn C.size_t, p *C.char, n C.size_t, more C.int, loan C.uintptr_t, pending *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*pending = 0
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	var body []byte
	if loan == 0 {
		body = cBytes(p, n)
	}
	if e := a.addBody(code, headers, hn, body, more != 0); e != nil {
		return report(err, e)
	}
	if loan != 0 && n > 0 {
		a.loans = append(a.loans, asgiLoan{p: unsafe.Pointer(p), n: int(n), loan: loan, at: len(a.out)})
		a.loaned += int(n)
	} else if loan != 0 { // nothing to write: back at once
		a.loop.q.postAlways(asgiEvent{kind: C.GOHTTP_ASGI_RELEASE, loan: loan})
	}
	if more != 0 && len(a.out)+a.loaned+a.inflight > asgiHighWater {
		a.wantWritten = true
		*pending = 1
	}
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_end is gohttp_asgi_body of the last part of the body
// followed by gohttp_asgi_finish, in one call: what C does when the app
// returns right after sending its response whole, so that the request's
// goroutine is woken once to write it all and return.  The arguments are
// as for those two; the finish happens even if the body is refused
// (err then says why), and (h, generation) is invalid afterwards.
//
//export gohttp_asgi_end
func gohttp_asgi_end(h C.uintptr_t, generation C.uint64_t, code C.int32_t, headers *C.char, hn C.size_t, p *C.char, n C.size_t, outcome C.gohttp_outcome, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	e = a.addBody(code, headers, hn, cBytes(p, n), false)
	a.finish(c, outcome)
	return report(err, e)
}

// addBody is what gohttp_asgi_body adds to the response, with c.mu held;
// headers (hn bytes) are read only with a code.
func (a *asgiState) addBody(code C.int32_t, headers *C.char, hn C.size_t, body []byte, more bool) error {
	switch {
	case code != 0 && a.startSet:
		return errState("http.response.start was sent already: a response starts once")
	case code != 0 && (code < 200 || code > 999):
		return errInvalid("invalid status %d: http.response.start takes a final status, 200 to 999", int(code))
	case code == 0 && !a.startSet:
		return errState("http.response.body before http.response.start")
	case a.final:
		return errState("the response is complete: no http.response.body may follow the one without more_body")
	case a.gone:
		return errClientGone
	}
	if code != 0 {
		a.status = int(code)
		a.headers = append(a.headers[:0], cBytes(headers, hn)...)
		a.startSet = true
	}
	a.out = append(a.out, body...)
	a.final = !more
	return nil
}

// gohttp_asgi_read asks the request's goroutine for the next chunk of the
// body, which comes as a GOHTTP_ASGI_BODY event (or a disconnect).  For
// a WebSocket it says that the app took the last message: Go reads the
// next, which comes as a GOHTTP_ASGI_WS_MESSAGE event (or WS_CLOSE).
//
//export gohttp_asgi_read
func gohttp_asgi_read(h C.uintptr_t, generation C.uint64_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	if a.ws != nil { // the app took a message: the reader may read one more
		select {
		case a.ws.next <- struct{}{}:
		default:
		}
		return C.GOHTTP_OK
	}
	a.wantRead = true
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_watch says that the app waits for the news of a disconnect
// (a receive() after the whole body): the request's goroutine watches
// the request's context from now on, and posts GOHTTP_ASGI_DISCONNECT
// once the client has gone (at once if it has gone already).  Until then
// only a failed read or write tells it.
//
//export gohttp_asgi_watch
func gohttp_asgi_watch(h C.uintptr_t, generation C.uint64_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	if !a.watch {
		a.watch = true
		a.wake()
	}
	return C.GOHTTP_OK
}

// gohttp_asgi_finish tells the request's goroutine that the app is done,
// with outcome: GOHTTP_HANDLED if it returned (a response it did not
// complete is a failure all the same), GOHTTP_FAILED if it raised.  The
// goroutine sends what is left, or a 500, or aborts the response; (h,
// generation) is invalid from then on.
//
//export gohttp_asgi_finish
func gohttp_asgi_finish(h C.uintptr_t, generation C.uint64_t, outcome C.gohttp_outcome, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	a.finish(c, outcome)
	return C.GOHTTP_OK
}

// finish records that the app is done, with c.mu held, and wakes the
// goroutine.  A WebSocket's app is done whether or not it sent a body.
func (a *asgiState) finish(c *call, outcome C.gohttp_outcome) {
	if outcome == C.GOHTTP_HANDLED && !a.final && a.ws == nil {
		outcome = C.GOHTTP_FAILED
	}
	a.finished, a.outcome = true, outcome
	if a.ws != nil {
		a.wsKick(c)
	} else {
		a.wake()
	}
}

// gohttp_asgi_pathsend opens the file at path (n bytes, not
// NUL-terminated; relative to the current directory unless absolute) and
// makes it the whole body of the response, which it completes; the
// request's goroutine sends it, with sendfile(2) where it can.  It
// carries http.response.start, which C held until then: code, its
// status, and the hn bytes at headers, as for gohttp_asgi_body; a
// response whose body has begun cannot take a file (code 0 is refused).
// All bytes are read during the call only.  A file that cannot be
// opened, or is not a regular file, is an error with its errno, and
// changes nothing: the start is still C's to send.
//
//export gohttp_asgi_pathsend
func gohttp_asgi_pathsend(h C.uintptr_t, generation C.uint64_t, code C.int32_t, headers *C.char, hn C.size_t, path *C.char, n C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	switch {
	case code == 0:
		return report(err, errState("http.response.pathsend cannot follow http.response.body: the file is the whole body"))
	case code < 200 || code > 999:
		return report(err, errInvalid("invalid status %d: http.response.start takes a final status, 200 to 999", int(code)))
	case !codeAllowsBody(int(code)):
		return report(err, errInvalid("status %d allows no body: http.response.pathsend has nothing to send", int(code)))
	}
	// Opened before the call is looked up: c.mu is not held while the
	// file system answers.
	f, size, e := openRegular(C.GoStringN(path, C.int(n)))
	if e != nil {
		return report(err, e)
	}
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		f.Close()
		return report(err, e)
	}
	defer c.mu.Unlock()
	switch {
	case a.startSet:
		e = errState("http.response.pathsend cannot follow http.response.body: the file is the whole body")
	case a.gone:
		e = errClientGone
	}
	if e != nil {
		f.Close()
		return report(err, e)
	}
	a.status = int(code)
	a.headers = append(a.headers[:0], cBytes(headers, hn)...)
	a.startSet = true
	a.file, a.fileSize = f, size
	a.final = true
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_early_hint sends a 103 Early Hints response with the hn
// bytes at headers (a packed list of Link headers, as for
// gohttp_asgi_body), if it still can: before the final response's
// headers went out, to an HTTP/1.1 or HTTP/2 client (an HTTP/1.0 one
// knows no 1xx).  Otherwise it does nothing, as asgiref allows.  The
// bytes are read during the call only.
//
//export gohttp_asgi_early_hint
func gohttp_asgi_early_hint(h C.uintptr_t, generation C.uint64_t, headers *C.char, hn C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	if a.headerSent || a.final || a.gone || !c.r.ProtoAtLeast(1, 1) {
		return C.GOHTTP_OK
	}
	a.hints = append(a.hints, append([]byte(nil), cBytes(headers, hn)...))
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_trailers completes a response whose last body came (with
// more 1: http.response.start announced trailers) with the hn bytes at
// headers as its trailers (packed as gohttp_asgi_body's).  They are sent
// only to a client that said it takes them (TE: trailers), as asgiref
// says; without it the response completes without them.  The bytes are
// read during the call only.
//
//export gohttp_asgi_trailers
func gohttp_asgi_trailers(h C.uintptr_t, generation C.uint64_t, headers *C.char, hn C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, e := lookupASGI(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	switch {
	case !a.startSet:
		return report(err, errState("http.response.trailers before http.response.start"))
	case a.final:
		return report(err, errState("the response is complete: no http.response.trailers may follow"))
	case a.gone:
		return report(err, errClientGone)
	}
	if acceptsTrailers(c.r) && hn > 0 {
		a.trailers = append([]byte(nil), cBytes(headers, hn)...)
	}
	a.final = true
	a.wake()
	return C.GOHTTP_OK
}
