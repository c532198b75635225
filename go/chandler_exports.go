package main

// The exports behind gohttp's C API for other extensions (chandler.go).
// Same rules as exports.go: a gohttp_status back, err filled on failure,
// no panic into C.

/*
#include "bridge.h"
*/
import "C"

// gohttp_set_c_dispatch sets the C function that runs C handlers: Go
// calls it as it calls the dispatch function of gohttp_set_dispatch, but
// for the routes of gohttp_server_handle_c, straight from the request's
// goroutine and without the lane.  The extension calls it once, when it
// loads.
//
//export gohttp_set_c_dispatch
func gohttp_set_c_dispatch(fn C.gohttp_dispatch_fn) {
	cDispatchFn.Store((*[0]byte)(fn))
}

// gohttp_server_handle_c registers pattern (n bytes, not NUL-terminated)
// as a route that calls the C dispatch function with handler, on the
// request's own goroutine.  handler must stay valid until
// gohttp_server_free returned GOHTTP_OK.  A server that was shut down
// refuses it with GOHTTP_ECLOSED.
//
//export gohttp_server_handle_c
func gohttp_server_handle_c(h C.uintptr_t, pattern *C.char, n C.size_t, handler C.uintptr_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.handleC(C.GoStringN(pattern, C.int(n)), uintptr(handler))
	}
	return report(err, e)
}
