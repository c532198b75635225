package main

// The ASGI event loop's side of Go: the events that cross from request
// goroutines to the one Python thread that runs ASGI apps (bridge.h,
// rule 8).  The queue and its wake are eventQueue's (asgiqueue.go); this
// file lays the events out in C's memory.

/*
#include "bridge.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// An asgiEvent is what one request goroutine tells the loop.
type asgiEvent struct {
	kind  C.int32_t // a gohttp_asgi_kind
	c     *call
	gen   uint64
	more  bool        // BODY: more chunks follow
	chunk []byte      // BODY, WS_MESSAGE: the goroutine's buffer, untouched until the app asks again; WS_CLOSE: the reason
	text  bool        // WS_MESSAGE: a text message
	code  int         // WS_CLOSE: the close code
	loan  C.uintptr_t // RELEASE: C's name for the body it lent (c is nil)
}

// An asgiLoop is one Python event loop as Go sees it: the queue of
// events for it and the descriptor that wakes it.  C holds it as a
// cgo.Handle; request goroutines hold it directly.
type asgiLoop struct {
	q  eventQueue[asgiEvent]
	fd wakeFD
}

func newASGILoop() (*asgiLoop, error) {
	fd, err := newWakeFD()
	if err != nil {
		return nil, err
	}
	l := &asgiLoop{fd: fd}
	l.q.wake = fd.wake
	return l, nil
}

// post hands e to the loop; false once the loop is closed.
func (l *asgiLoop) post(e asgiEvent) bool { return l.q.post(e) }

// take clears the wake, then copies queued events into events and their
// bytes into buf, both C's (rule 8b), while they fit.  need is the size
// of buf the first event needs when not even it fitted; more tells
// whether events remain, so that C calls again at once.
func (l *asgiLoop) take(events []C.gohttp_asgi_event, buf []byte) (n, used, need int, more bool) {
	l.fd.clear()
	more = l.q.take(func(e asgiEvent) bool {
		if n == len(events) {
			return false
		}
		var payload []byte
		switch e.kind {
		case C.GOHTTP_ASGI_NEW, C.GOHTTP_ASGI_WS_CONNECT:
			payload = e.c.data // the call is the loop's until it finishes
		case C.GOHTTP_ASGI_BODY, C.GOHTTP_ASGI_WS_MESSAGE, C.GOHTTP_ASGI_WS_CLOSE:
			payload = e.chunk
		}
		if len(payload) > len(buf)-used {
			if n == 0 {
				need = len(payload)
			}
			return false
		}
		ev := &events[n]
		*ev = C.gohttp_asgi_event{kind: e.kind, off: C.uint32_t(used), len: C.uint32_t(len(payload))}
		switch e.kind {
		case C.GOHTTP_ASGI_NEW, C.GOHTTP_ASGI_WS_CONNECT:
			ev.req = e.c.req
			ev.app = C.uintptr_t(e.c.handler)
		case C.GOHTTP_ASGI_RELEASE:
			ev.loan = e.loan
		default:
			ev.req.call = C.uintptr_t(e.c.handle)
			ev.req.generation = C.uint64_t(e.gen)
		}
		if e.more {
			ev.more_body = 1
		}
		if e.text {
			ev.text = 1
		}
		ev.code = C.int32_t(e.code)
		used += copy(buf[used:], payload)
		n++
		return true
	})
	return n, used, need, more
}

func lookupLoop(h C.uintptr_t) (*asgiLoop, error) {
	if h == 0 {
		return nil, errServerState("invalid ASGI loop handle")
	}
	l, ok := cgo.Handle(h).Value().(*asgiLoop)
	if !ok {
		return nil, errServerState("invalid ASGI loop handle")
	}
	return l, nil
}

// cBytes is the n bytes at p, C memory, as a slice (valid while C says).
func cBytes(p *C.char, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}
