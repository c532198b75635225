package main

// C handlers: routes that another C extension registers through gohttp's
// C API (ext/capi.c, gohttp/include/gohttp.h).  Such a route calls C
// straight from the request's goroutine: no lane, no GIL, no Python.
// The C side answers through the same gohttp_call_* exports a Python
// handler's ResponseWriter uses, with the call's handle and generation,
// or, for a small response, leaves all of it in a reply buffer that Go
// sends once C has returned (chandler.h): no call back into Go at all.

/*
#include "chandler.h"

// cgo cannot call a C function pointer directly; this shim does.
static inline gohttp_outcome
gohttp_invoke_c(gohttp_c_dispatch_fn fn, uintptr_t handler,
                const gohttp_request *req, const char *data,
                char *buf, size_t cap, gohttp_c_reply *reply)
{
    return fn(handler, req, data, buf, cap, reply);
}
*/
import "C"

import (
	"net/http"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cDispatchFn is the C function that runs C handlers, set once by
// gohttp_set_c_dispatch when the extension module loads.
var cDispatchFn atomic.Pointer[[0]byte]

// replySize is how much of a response (headers and body) C may hand back
// with the return of the dispatch call (chandler.h, rule 7).  A response
// that fits, the common small one, costs no call back into Go.
const replySize = 8 << 10

// A reply is where C leaves such a response.  It holds no Go pointers, so
// C may write it during the call.
type reply struct {
	meta C.gohttp_c_reply
	buf  [replySize]byte
}

var replies = sync.Pool{New: func() any { return new(reply) }}

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
		rp := replies.Get().(*reply)
		defer replies.Put(rp)

		outcome := C.gohttp_outcome(C.GOHTTP_FAILED)
		c.begin(w, r, handler, names)
		if fn := cDispatchFn.Load(); fn != nil {
			rp.meta = C.gohttp_c_reply{}
			outcome = C.gohttp_invoke_c(C.gohttp_c_dispatch_fn(fn), C.uintptr_t(handler),
				&c.req, (*C.char)(unsafe.Pointer(&c.data[0])),
				(*C.char)(unsafe.Pointer(&rp.buf[0])), C.size_t(len(rp.buf)), &rp.meta)
		}
		if outcome == C.GOHTTP_HANDLED && rp.meta.replied != 0 {
			c.sendReply(rp)
		}
		started := c.end()

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

// sendReply sends the response C left in rp.  C checked its status code
// and headers and gave the keys in canonical form; a body it holds comes
// with no Content-Length (with one, C writes the body through
// gohttp_call_write, so that Go checks it against the length): what is
// left is to hand them to net/http, which buffers them until the handler
// returns.  Should the client have gone, no one is left to tell.
func (c *call) sendReply(rp *reply) {
	m := &rp.meta
	hlen, off, n := int(m.headers_len), int(m.body_off), int(m.body_len)
	if hlen > len(rp.buf) || off > len(rp.buf) || n > len(rp.buf)-off {
		return // C broke rule 7: send nothing rather than garbage
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.w.Header()
	err := unpackPairs(unsafe.Pointer(&rp.buf[0]), hlen, func(key, value string) {
		h[key] = append(h[key], value)
	})
	if err != nil {
		return
	}
	c.w.WriteHeader(int(m.code))
	if n > 0 {
		_, _ = c.w.Write(rp.buf[off : off+n])
	}
}
