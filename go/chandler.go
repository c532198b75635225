package main

// C handlers: routes that another C extension registers through gohttp's
// C API (ext/capi.c, gohttp/include/gohttp.h).  Such a route calls C
// straight from the request's goroutine: no lane, no GIL, no Python.
// The C side answers through the writer a Python handler's
// ResponseWriter uses (ext/writer.h): a small response held back in the
// call's reply buffer, which Go sends once C has returned (bridge.h),
// else through the gohttp_call_* exports, with the call's handle and
// generation.

/*
#include "bridge.h"
*/
import "C"

import "sync/atomic"

// cDispatchFn is the C function that runs C handlers, set once by
// gohttp_set_c_dispatch when the extension module loads.
var cDispatchFn atomic.Pointer[[0]byte]

// handleC registers a route whose requests go to the C handler value
// through cDispatchFn.  Each request runs it on its own goroutine, with
// no lane: C handlers run in parallel on as many OS threads as requests
// are in C at once.
func (s *server) handleC(pattern string, handler uintptr) error {
	return s.register(pattern, handler, runC)
}

// runC runs c's C handler and returns what it says.
func runC(c *call) C.gohttp_outcome {
	return invokeFn(cDispatchFn.Load(), c)
}
