package main

// C handlers: routes that another C extension registers through gohttp's
// C API (ext/capi.c, gohttp/include/gohttp.h).  Such a route calls C
// straight from the request's goroutine: no lane, no GIL, no Python.
// The C side answers as a Python handler's ResponseWriter does: a small
// response held back in the call's reply buffer, which Go sends once C
// has returned (bridge.h), else through the gohttp_call_* exports, with
// the call's handle and generation.

/*
#include "bridge.h"
*/
import "C"

import (
	"net/http"
	"sync/atomic"
)

// cDispatchFn is the C function that runs C handlers, set once by
// gohttp_set_c_dispatch when the extension module loads.
var cDispatchFn atomic.Pointer[[0]byte]

// handleC registers a route whose requests go to the C handler value
// through cDispatchFn.  A bad or conflicting pattern is an EINVAL error
// with the mux's message; a server that was shut down refuses new C
// routes, since the C side could never learn when to free them.
func (s *server) handleC(pattern string, handler uintptr) (err error) {
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if closed {
		return errState("the server was shut down: register C handlers before it stops")
	}
	defer func() {
		if p := recover(); p != nil {
			err = errInvalid("%v", p)
		}
	}()
	s.mux.Handle(pattern, s.cRoute(handler, wildcardNames(pattern)))
	return nil
}

// cRoute returns the http.Handler that runs one C handler.  Each request
// runs it on its own goroutine, concurrently: C handlers run in parallel
// on as many OS threads as requests are in C at once.
func (s *server) cRoute(handler uintptr, names []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.getCall()
		defer s.putCall(c)

		c.begin(w, r, handler, names)
		outcome := invokeFn(cDispatchFn.Load(), c)
		started := c.end(outcome)

		switch {
		case outcome == C.GOHTTP_HANDLED:
		case !started && bodyTooLarge(r):
			http.Error(w, "413 request entity too large", http.StatusRequestEntityTooLarge)
		case !started:
			w.Header().Set("Connection", "close")
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
		default:
			// Part of a response is out; the rest cannot be made valid.
			panic(http.ErrAbortHandler)
		}
	})
}
