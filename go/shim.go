package main

/*
#include "bridge.h"

// cgo cannot call a C function pointer directly; this shim does.
static inline gohttp_outcome
gohttp_invoke(gohttp_dispatch_fn fn, uintptr_t handler,
              const gohttp_request *req, const char *data)
{
    return fn(handler, req, data);
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

// invoke runs the C dispatch function for one call.  req and data must
// point to Go memory that holds no Go pointers; C uses them only until
// invoke returns.
func invoke(handler uintptr, req *C.gohttp_request, data *byte) C.gohttp_outcome {
	fn := dispatchFn.Load()
	if fn == nil {
		return C.GOHTTP_FAILED
	}
	return C.gohttp_invoke(C.gohttp_dispatch_fn(fn), C.uintptr_t(handler), req, (*C.char)(unsafe.Pointer(data)))
}
