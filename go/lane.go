package main

/*
#include "bridge.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
)

// A lane bounds how many handler calls are in C at once.  Python runs
// one handler at a time under the GIL, so by default the lane has one
// place: the request's own goroutine takes it and enters C on its own
// thread, and then writes its response at once; a goroutine that finds
// the place taken waits in Go, costing no thread.  No goroutine sits
// between a request and Python, and an OS thread never waits for the GIL.
//
// A call that leaves frees its place and wakes the longest waiting call,
// but a call that arrives while that one is still being scheduled may
// take the place first, as with sync.Mutex: a place handed to a parked
// goroutine would stay idle until a thread runs it.  The woken call that
// finds the place taken goes back to the front of the queue.  Once the
// first waiter has waited handOffAfter, leaving calls hand it their place
// instead, so none starves.
//
// Handlers that block (I/O, sleep) release the GIL, though, and then one
// place would leave the interpreter idle while calls wait; so the lane
// widens by one place when calls have waited too long, up to max, and
// narrows again when a call finishes with no one waiting.  The width
// bounds how many goroutines are in C at once, each holding an OS
// thread, so 5,000 slow requests wait here rather than spawn 5,000
// threads.
type lane struct {
	mu      sync.Mutex // guards the fields up to finished
	width   int32      // places now: 1 (or min) to max
	inC     int32      // places taken
	waiting []*call    // calls waiting for a place, longest first
	head    int        // waiting[head:] are the ones still waiting
	woken   bool       // a call told that a place is free is on its way

	min, max int32
	enter    func(*call)   // runs a call's handler: enterC, or a test's
	finished atomic.Uint64 // calls that left C
	wake     chan struct{} // the monitor's alarm: someone waits
	stop     chan struct{} // closed by close
}

// waitTooLong is how long a call may wait for a place, or the lane go
// without finishing a call while calls wait, before the lane widens.
const waitTooLong = 2 * time.Millisecond

// handOffAfter is how long the first waiter waits before leaving calls
// hand it their place rather than free it for whoever comes first.
const handOffAfter = time.Millisecond

// newLane makes a lane with min places at first and at least, and up
// to max.  min > 1 is for interpreters without a GIL, where handlers
// run in parallel.
func newLane(min, max int) *lane {
	if min < 1 {
		min = 1
	}
	if max < min {
		max = min
	}
	l := &lane{
		width: int32(min),
		min:   int32(min),
		max:   int32(max),
		enter: enterC,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	go l.monitor()
	return l
}

// enterC runs c's handler in C and stores what it says in c.outcome.
func enterC(c *call) {
	c.outcome = invoke(c)
}

// run runs c's handler in C, on the calling goroutine's thread, and
// returns when it has finished.
func (l *lane) run(c *call) C.gohttp_outcome {
	l.mu.Lock()
	if l.inC < l.width {
		l.inC++
		l.mu.Unlock()
	} else {
		c.queued = time.Now()
		l.await(c)
	}
	l.enter(c)
	l.leave()
	return c.outcome
}

// await queues c and returns once c has a place.  Call it with l.mu
// held; it returns with l.mu released.
func (l *lane) await(c *call) {
	l.waiting = append(l.waiting, c)
	for {
		if l.head == len(l.waiting)-1 {
			select { // the first to wait: tell the monitor
			case l.wake <- struct{}{}:
			default:
			}
		}
		l.mu.Unlock()
		if handed := <-c.done; handed {
			return
		}
		l.mu.Lock()
		l.woken = false
		if l.inC < l.width {
			l.inC++
			next := l.wakeNext()
			l.mu.Unlock()
			if next != nil {
				next.done <- false
			}
			return
		}
		l.pushFront(c) // a running call took the freed place first
	}
}

// leave gives up a place.  It frees the place and wakes the longest
// waiting call, if any and if no woken call is already on its way to a
// place; or, once the longest waiting call has waited handOffAfter,
// hands the place to it, widening the lane if it waited waitTooLong.
// With no one waiting, the lane narrows if it had widened.
func (l *lane) leave() {
	l.finished.Add(1)
	l.mu.Lock()
	if l.inC > l.width || l.head == len(l.waiting) {
		l.inC--
		if l.head == len(l.waiting) && l.width > l.min && l.inC < l.width {
			l.width--
		}
		l.mu.Unlock()
		return
	}
	waited := time.Since(l.waiting[l.head].queued)
	if waited < handOffAfter {
		l.inC--
		next := l.wakeNext()
		l.mu.Unlock()
		if next != nil {
			next.done <- false // a place is free: try for it
		}
		return
	}
	next := l.pop()
	// A call that waited too long means the places are stuck in handlers
	// that block: widen, and let the next waiter in too.
	var also *call
	if waited > waitTooLong && l.width < l.max {
		l.width++
		if l.head < len(l.waiting) {
			l.inC++
			also = l.pop()
		}
	}
	l.mu.Unlock()
	next.done <- true
	if also != nil {
		also.done <- true
	}
}

// pop takes the longest waiting call off the queue.  Call with l.mu held
// and someone waiting.
func (l *lane) pop() *call {
	c := l.waiting[l.head]
	l.waiting[l.head] = nil
	l.head++
	if l.head == len(l.waiting) {
		l.waiting, l.head = l.waiting[:0], 0
	}
	return c
}

// wakeNext takes the longest waiting call off the queue, to be told a
// place is free, unless no one waits, no place is free or a woken call
// is already on its way to take one.  Call with l.mu held.
func (l *lane) wakeNext() *call {
	if l.woken || l.inC >= l.width || l.head == len(l.waiting) {
		return nil
	}
	l.woken = true
	return l.pop()
}

// pushFront puts c back at the head of the queue.  Call with l.mu held.
func (l *lane) pushFront(c *call) {
	if l.head > 0 {
		l.head--
		l.waiting[l.head] = c
		return
	}
	l.waiting = append(l.waiting, nil)
	copy(l.waiting[1:], l.waiting)
	l.waiting[0] = c
}

// monitor widens the lane when calls wait and none has finished for
// waitTooLong: every place is stuck in a handler that does not return.
// It sleeps while no one waits.
func (l *lane) monitor() {
	t := time.NewTimer(waitTooLong)
	t.Stop()
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			return
		}
		for l.someoneWaits() {
			before := l.finished.Load()
			t.Reset(waitTooLong)
			select {
			case <-t.C:
			case <-l.stop:
				return
			}
			if l.finished.Load() == before {
				l.widen()
			}
		}
	}
}

func (l *lane) someoneWaits() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head < len(l.waiting)
}

// widen adds a place, if the lane may, and hands it to a waiting call.
func (l *lane) widen() {
	l.mu.Lock()
	if l.width >= l.max || l.head == len(l.waiting) {
		l.mu.Unlock()
		return
	}
	l.width++
	l.inC++
	next := l.pop()
	l.mu.Unlock()
	next.done <- true
}

// close stops the monitor.  Call it only once no more calls can come:
// after the server has stopped and drained.
func (l *lane) close() {
	close(l.stop)
}
