package main

// Every function C may call.  Each one returns a gohttp_status, fills err
// (which may be NULL) when the status is not GOHTTP_OK, and never lets a
// panic unwind into C.  bridge.h states who owns the memory passed here.

/*
#include "bridge.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// gohttp_set_dispatch sets the C function that runs handlers.  The
// extension calls it once, when it loads, before any server exists.
//
//export gohttp_set_dispatch
func gohttp_set_dispatch(fn C.gohttp_dispatch_fn) {
	dispatchFn.Store((*[0]byte)(fn))
}

// gohttp_go_procs returns how many OS threads may run Go code at once
// (runtime.GOMAXPROCS): the CPUs by default, or the GOMAXPROCS variable
// of the environment the process started with. An n of 1 or more sets
// it to n (the value returned is then the one before): gohttp's import
// does so where a cgroup CPU quota allows fewer CPUs than Go counts,
// as Go reads the environment the process started with only.
//
//export gohttp_go_procs
func gohttp_go_procs(n C.int32_t) C.int32_t {
	return C.int32_t(runtime.GOMAXPROCS(int(n)))
}

// gohttp_goroutines returns how many goroutines exist now
// (runtime.NumGoroutine): for the soak (tests/soak/) and the leak tests,
// which check that they go back down once the load stops.
//
//export gohttp_goroutines
func gohttp_goroutines() C.int64_t {
	return C.int64_t(runtime.NumGoroutine())
}

// gohttp_goroutine_stacks writes the stacks of every goroutine, as
// runtime.Stack gives them, into buf, at most capacity bytes, and sets
// *n to their length (capacity when they did not all fit).  For the soak
// (tests/soak/), which saves them when goroutines are left over.  buf is
// C's and is used during the call only.
//
//export gohttp_goroutine_stacks
func gohttp_goroutine_stacks(buf *C.char, capacity C.size_t, n *C.size_t) {
	*n = C.size_t(runtime.Stack(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(capacity)), true))
}

func lookupServer(h C.uintptr_t) (*server, error) {
	if h == 0 {
		return nil, errServerState("invalid server handle")
	}
	s, ok := cgo.Handle(h).Value().(*server)
	if !ok {
		return nil, errServerState("invalid server handle")
	}
	return s, nil
}

// gohttp_server_new makes a server with maxHandlers calls, the most that
// may be in C at once, and stores its handle in *out.  parallel != 0 says
// that Python runs handlers in parallel (a free-threaded build with the
// GIL off): the server then runs one handler per CPU at once from the
// start, instead of one at a time until calls wait.  The handle is valid
// until gohttp_server_free.
//
//export gohttp_server_new
func gohttp_server_new(maxHandlers C.int32_t, parallel C.int32_t, out *C.uintptr_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := newServer(int(maxHandlers), parallel != 0)
	if e != nil {
		return report(err, e)
	}
	*out = C.uintptr_t(cgo.NewHandle(s))
	return C.GOHTTP_OK
}

// gohttp_server_handle registers pattern (n bytes, not NUL-terminated) as
// a route that calls the dispatch function with handler.  handler must
// stay valid until the server is shut down and drained.
//
//export gohttp_server_handle
func gohttp_server_handle(h C.uintptr_t, pattern *C.char, n C.size_t, handler C.uintptr_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.handle(C.GoStringN(pattern, C.int(n)), uintptr(handler))
	}
	return report(err, e)
}

// gohttp_server_listen binds the address in cfg, starts serving in the
// background and stores the bound port in *port.  cfg is read during the
// call only.
//
//export gohttp_server_listen
func gohttp_server_listen(h C.uintptr_t, cfg *C.gohttp_config, port *C.int32_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	p, e := s.listen(configFrom(cfg))
	if e != nil {
		return report(err, e)
	}
	*port = C.int32_t(p)
	return C.GOHTTP_OK
}

// gohttp_server_static registers the URL subtree prefix (n bytes, not
// NUL-terminated, such as "/static/") as a route that serves the files
// under the directory dir (NUL-terminated), by Go alone: no request for it
// reaches C.  With listing 0, a directory without an index.html is 404.
// dir is opened during the call (a missing one is GOHTTP_EIO with
// ENOENT); Go copies both strings.
//
//export gohttp_server_static
func gohttp_server_static(h C.uintptr_t, prefix *C.char, n C.size_t, dir *C.char, listing C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.static(C.GoStringN(prefix, C.int(n)), C.GoString(dir), listing != 0)
	}
	return report(err, e)
}

// gohttp_server_addresses stores in *size how many bytes the packed list
// (bridge.h) of the addresses the server listens on takes, and copies it
// into buf if it fits in capacity bytes: call again with a larger buf if
// *size > capacity.  buf is C memory, written during the call only.
// Addresses read "127.0.0.1:8000", "[::1]:8000" or "unix:/path".
//
//export gohttp_server_addresses
func gohttp_server_addresses(h C.uintptr_t, buf *C.char, capacity C.size_t, size *C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*size = 0
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	var packed []byte
	for _, a := range s.addresses() {
		packed = appendItem(packed, a)
	}
	*size = C.size_t(len(packed))
	if len(packed) > 0 && len(packed) <= int(capacity) {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(packed)), packed)
	}
	return C.GOHTTP_OK
}

// gohttp_server_http3_port stores in *port the UDP port HTTP/3 listens
// on, the one the OS picked if it was asked for port 0; 0 before listen
// or without HTTP/3.
//
//export gohttp_server_http3_port
func gohttp_server_http3_port(h C.uintptr_t, port *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*port = 0
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	*port = C.int(s.http3Port())
	return C.GOHTTP_OK
}

// gohttp_server_handled stores in *count how many handler calls the
// server has finished since it was made: the requests that reached C.
// It is one atomic load, cheap enough to poll.
//
//export gohttp_server_handled
func gohttp_server_handled(h C.uintptr_t, count *C.uint64_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*count = 0
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	*count = C.uint64_t(s.handled())
	return C.GOHTTP_OK
}

// gohttp_server_wait blocks for up to timeoutNs until the server stops.
// It returns GOHTTP_OK once stopped, with *forced set to 1 if its
// shutdown cut requests off; GOHTTP_ETIMEOUT while serving; an I/O error
// if serving failed.  Call it without the GIL.
//
//export gohttp_server_wait
func gohttp_server_wait(h C.uintptr_t, timeoutNs C.int64_t, forced *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*forced = 0
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	stopped, cut, e := s.wait(time.Duration(timeoutNs))
	switch {
	case e != nil:
		return report(err, e)
	case !stopped:
		return C.GOHTTP_ETIMEOUT
	case cut:
		*forced = 1
	}
	return C.GOHTTP_OK
}

// gohttp_server_shutdown stops the server gracefully, giving in-flight
// requests up to timeoutNs.  It returns GOHTTP_OK if they all finished
// and GOHTTP_ETIMEOUT if some were cut off.  With wait == 0 it only
// starts the shutdown and returns GOHTTP_OK at once (a handler that
// shuts down its own server must not wait for itself).  Call it without
// the GIL: it waits for handlers, which need it.
//
//export gohttp_server_shutdown
func gohttp_server_shutdown(h C.uintptr_t, timeoutNs C.int64_t, wait C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	if wait == 0 {
		go s.shutdown(time.Duration(timeoutNs))
		return C.GOHTTP_OK
	}
	if !s.shutdown(time.Duration(timeoutNs)) {
		return C.GOHTTP_ETIMEOUT
	}
	return C.GOHTTP_OK
}

// gohttp_server_free stops the server at once if it still serves and
// releases its handle; h is invalid afterwards.  It returns GOHTTP_OK if
// no handler is left in C, so that C may free the handler values it gave
// gohttp_server_handle, and GOHTTP_ESTATE if one still runs (C must then
// keep them).  Call it without the GIL.
//
//export gohttp_server_free
func gohttp_server_free(h C.uintptr_t) (status C.gohttp_status) {
	defer recoverTo(nil, &status)
	s, e := lookupServer(h)
	if e != nil {
		return report(nil, e)
	}
	s.shutdown(0)
	cgo.Handle(h).Delete()
	if !s.free() {
		return C.GOHTTP_ESTATE
	}
	return C.GOHTTP_OK
}

// gohttp_call_write_header sends the status code and the n bytes of
// packed headers at headers (a packed list of key, value pairs; keys
// already in canonical form), then the bodyLen bytes at body (which may
// be 0), storing how many of those were written in *written and 1 in
// *sent once the status and headers went out (even if the body then
// failed): a handler's whole small response in one call.  headers and body are read during
// the call only.  Call it without the GIL when bodyLen may reach the
// socket.
//
//export gohttp_call_write_header
func gohttp_call_write_header(h C.uintptr_t, generation C.uint64_t, code C.int32_t, headers *C.char, n C.size_t, body *C.char, bodyLen C.size_t, written *C.size_t, sent *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*written, *sent = 0, 0
	c, e := lookupCall(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	if e := c.writeHeader(int(code), unsafe.Slice((*byte)(unsafe.Pointer(headers)), int(n))); e != nil {
		return report(err, e)
	}
	*sent = 1
	if bodyLen == 0 {
		return C.GOHTTP_OK
	}
	m, e := c.write(unsafe.Slice((*byte)(unsafe.Pointer(body)), int(bodyLen)))
	*written = C.size_t(m)
	return report(err, e)
}

// gohttp_call_write writes the n bytes at p to the response body and
// stores how many were written in *written.  p is read during the call
// only.  Call it without the GIL when the write may reach the socket.
//
//export gohttp_call_write
func gohttp_call_write(h C.uintptr_t, generation C.uint64_t, p *C.char, n C.size_t, written *C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*written = 0
	c, e := lookupCall(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	m, e := c.write(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	*written = C.size_t(m)
	return report(err, e)
}

// gohttp_call_send_file sends count bytes of the file open as fd,
// starting at offset, as part of the response body (count -1: up to the
// end of the file), and stores how many were sent in *written.  fd
// remains C's: Go duplicates it, and closes the duplicate before the call
// returns, so fd must stay open until then and is still open afterwards.
// The duplicate shares fd's file offset, which the call leaves after the
// last byte sent.  On HTTP/1.x over cleartext TCP, with a Content-Length
// set, the bytes go from the file to the socket with sendfile(2); they
// never pass through C.  Call it without the GIL.
//
//export gohttp_call_send_file
func gohttp_call_send_file(h C.uintptr_t, generation C.uint64_t, fd C.int, offset C.int64_t, count C.int64_t, written *C.int64_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*written = 0
	c, e := lookupCall(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	n, e := c.sendFile(int(fd), int64(offset), int64(count))
	*written = C.int64_t(n)
	return report(err, e)
}

// gohttp_call_flush sends buffered response data to the client.  Call it
// without the GIL.
//
//export gohttp_call_flush
func gohttp_call_flush(h C.uintptr_t, generation C.uint64_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, e := lookupCall(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	return report(err, c.flush())
}

// gohttp_call_read reads up to n bytes of the request body into p and
// stores how many it read in *got: fewer than n only at the end of the
// body, 0 once it is over.  Go writes p during the call only.  Call it
// without the GIL.
//
//export gohttp_call_read
func gohttp_call_read(h C.uintptr_t, generation C.uint64_t, p *C.char, n C.size_t, got *C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*got = 0
	c, e := lookupCall(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	m, e := c.read(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	*got = C.size_t(m)
	return report(err, e)
}
