package main

/*
#include "bridge.h"

// cgo cannot call a C function pointer directly; this shim does.
static inline gohttp_outcome
gohttp_invoke(gohttp_dispatch_fn fn, uintptr_t handler,
              const gohttp_request *req, const char *data,
              gohttp_reply *reply, char *reply_buf)
{
    return fn(handler, req, data, reply, reply_buf);
}
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// dispatchFn is the C function that runs handlers, set once by
// gohttp_set_dispatch when the extension module loads.
var dispatchFn atomic.Pointer[[0]byte]

// invoke runs the C dispatch function for c.  What it passes points to
// Go memory that holds no Go pointers, which C uses only until invoke
// returns (bridge.h, rule 2).
func invoke(c *call) C.gohttp_outcome {
	return invokeFn(dispatchFn.Load(), c)
}

// invokeFn runs the dispatch function fn, Python's or C handlers'
// (chandler.go), for c.
func invokeFn(fn *[0]byte, c *call) C.gohttp_outcome {
	if fn == nil {
		return C.GOHTTP_FAILED
	}
	if c.replyBuf == nil {
		c.replyBuf = replyBufs.Get().(*replyBuf)
	}
	return C.gohttp_invoke(C.gohttp_dispatch_fn(fn), C.uintptr_t(c.handler),
		&c.req, (*C.char)(unsafe.Pointer(&c.data[0])),
		&c.reply, (*C.char)(unsafe.Pointer(&c.replyBuf[0])))
}
