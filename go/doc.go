// Command gohttp is the Go half of the gohttp Python extension.
//
// It is built with -buildmode=c-archive and linked statically into the
// extension module gohttp._gohttp.  Go owns everything on the network side:
// the listener, HTTP/1.1 and HTTP/2 parsing, the ServeMux, timeouts and
// limits.  For each request that a route matches, Go calls one C function
// (registered with gohttp_set_dispatch), which runs the Python handler.
//
// The files:
//
//	bridge.h      types and memory rules shared with C (read it first)
//	exports.go    every function C may call (the gohttp_* symbols)
//	shim.go       the C helper that calls the dispatch function pointer
//	server.go     a server's lifecycle: routes, listen, wait, shutdown
//	lane.go       how many handler calls may be in C at once, and who waits
//	call.go       one handler call: the request handed to C, the response
//	headerblock.go the response headers C packs, reused when they repeat
//	date.go       the Date header, made once a second
//	sendfile.go   a response body sent from a file descriptor, by Go alone
//	statuscode.go which status codes start a response, which allow a body
//	chandler.go   routes of C handlers (the C API), run without the lane
//	chandler_exports.go  the exports behind the C API
//	pattern.go    the wildcard names of a ServeMux pattern
//	status.go     Go errors and panics turned into bridge.h statuses
//	listeners.go  TCP, Unix socket and inherited-descriptor listeners
//	reuseport_*   the value of SO_REUSEPORT on each system
//	conn.go       the base of the net.Conn wrappers listeners hand net/http
//	deadlines.go  read deadlines, swept rather than timed
//	tls.go        certificates, ALPN and cleartext HTTP/2
//	limits.go     body size and connection count limits
//	static.go     static files served by Go alone
//	accesslog.go  the access log, written off the GIL
//	proxy.go      X-Forwarded-For and -Proto from trusted proxies
//	asgiqueue.go  the events for an event loop, one wake per batch
//	asgiloop.go   an ASGI event loop as Go sees it: its events laid out for C
//	asgicall.go   one ASGI request: its goroutine does the I/O the loop asks
//	asgi_exports.go  the gohttp_asgi_* functions the loop's thread calls
//	asgiws.go     one ASGI WebSocket: handshake, reader, writes, close
//	asgiws_exports.go  the gohttp_asgi_ws_* functions (accept, send, close)
//	wakefd_*.go   the descriptor that wakes the loop: eventfd, else a pipe
//
// The Go runtime never calls signal.Notify: the Python process owns
// SIGINT and SIGTERM.
package main

// main is required by -buildmode=c-archive and never runs.
func main() {}
