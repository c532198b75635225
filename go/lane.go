package main

/*
#include "bridge.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"syscall"
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
// narrows again when a call finishes with no one waiting.  Calls also
// queue behind handlers that hold the GIL, where a wider lane would only
// have them wait for the GIL in C; so C times the handlers of calls that
// were handed their place after a long wait (bridge.h), and behind one
// that ran on a CPU all along the lane does not widen, and narrows if it
// had.  The width bounds how many goroutines are in C at once, each
// holding an OS thread, so 5,000 slow requests wait here rather than
// spawn 5,000 threads.
type lane struct {
	mu      sync.Mutex // guards the fields up to finished
	width   int32      // places now: 1 (or min) to max
	inC     int32      // places taken
	waiting []*call    // calls waiting for a place, longest first
	head    int        // waiting[head:] are the ones still waiting
	woken   bool       // a call told that a place is free is on its way

	min, max int32
	enter    func(*call)    // runs a call's handler: enterC, or a test's
	finished atomic.Uint64  // calls that left C
	heldRan  atomic.Int64   // ns the last handler timed that held the GIL ran
	wake     chan struct{}  // the monitor's alarm: someone waits
	stop     chan struct{}  // closed by close
	metrics  *serverMetrics // nil: not counted; set before serving
}

// waitTooLong is how long a call may wait for a place, or the lane go
// without finishing a call while calls wait, before the lane widens.
const waitTooLong = 2 * time.Millisecond

// handOffAfter is how long the first waiter waits before leaving calls
// hand it their place rather than free it for whoever comes first.
const handOffAfter = time.Millisecond

// stallPatience is how many times waitTooLong a stall may last at least,
// while the process keeps a CPU busy, before the monitor widens.
const stallPatience = 10

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

// enterC runs c's handler in C and stores what it says in c.outcome,
// and, if c.timed asks, how long the handler ran and was on a CPU.  The
// lane reads these from c, not from c.reply, so that its tests, which
// cannot use cgo, can set them.
func enterC(c *call) {
	c.reply.timed = 0
	if c.timed {
		c.reply.timed = 1
	}
	c.outcome = invoke(c)
	if c.timed {
		c.ran, c.onCPU = time.Duration(c.reply.ran_ns), time.Duration(c.reply.cpu_ns)
	}
}

// run runs c's handler in C, on the calling goroutine's thread, and
// returns when it has finished.
func (l *lane) run(c *call) C.gohttp_outcome {
	l.mu.Lock()
	handed := false
	if l.inC < l.width {
		l.inC++
		l.mu.Unlock()
	} else {
		c.queued = time.Now()
		if m := l.metrics; m != nil {
			m.waiting.Inc()
			handed = l.await(c)
			m.waiting.Dec()
			m.waited.Observe(time.Since(c.queued).Seconds())
		} else {
			handed = l.await(c)
		}
	}
	// A call handed its place comes after a long wait: C times it, so
	// that leave can tell a queue for the GIL from handlers that block.
	c.timed = handed
	l.enter(c)
	l.leave(c)
	return c.outcome
}

// heldTheGIL reports whether c's handler was timed and ran on a CPU for
// at least half its share of the time, with inC handlers in C taking
// turns with the GIL: then the calls that waited waited for the
// interpreter, not for a place.
func heldTheGIL(c *call, inC int32) bool {
	return c.timed && 2*time.Duration(inC)*c.onCPU >= c.ran
}

// await queues c and returns once c has a place, reporting whether a
// leaving call handed it over.  Call it with l.mu held; it returns with
// l.mu released.
func (l *lane) await(c *call) (handed bool) {
	l.waiting = append(l.waiting, c)
	for {
		if l.head == len(l.waiting)-1 {
			select { // the first to wait: tell the monitor
			case l.wake <- struct{}{}:
			default:
			}
		}
		l.mu.Unlock()
		if handed = <-c.done; handed {
			return true
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
			return false
		}
		l.pushFront(c) // a running call took the freed place first
	}
}

// leave gives up c's place.  It frees the place and wakes the longest
// waiting call, if any and if no woken call is already on its way to a
// place; or, once the longest waiting call has waited handOffAfter,
// hands the place to it, widening the lane if it waited waitTooLong and
// c's handler blocked.  With no one waiting, or when c's handler held
// the GIL all along, the lane narrows if it had widened.
func (l *lane) leave(c *call) {
	l.finished.Add(1)
	l.mu.Lock()
	held := heldTheGIL(c, l.inC)
	if held {
		l.heldRan.Store(int64(c.ran))
	}
	if l.inC > l.width || l.head == len(l.waiting) {
		l.inC--
		if l.head == len(l.waiting) && l.width > l.min && l.inC < l.width {
			l.width--
		}
		l.mu.Unlock()
		return
	}
	if held && l.inC == l.width && l.width > l.min {
		// A wider lane only has the waiting calls wait for the GIL in C,
		// each holding a thread: retire c's place.  The places still
		// taken serve the queue.
		l.width--
		l.inC--
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
	// A call that waited too long, behind handlers that gave up the GIL,
	// means the places are stuck in handlers that block: widen, and let
	// the next waiter in too.
	var also *call
	if waited > waitTooLong && !held && l.width < l.max {
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
// While the process keeps a CPU busy, though, the handler is more likely
// long, holding the GIL, than blocked: then the monitor gives it its
// patience.  It sleeps while no one waits.
func (l *lane) monitor() {
	t := time.NewTimer(waitTooLong)
	t.Stop()
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			return
		}
		var stalled time.Duration // how long no call has finished
		at, cpu := time.Now(), processCPU()
		for l.someoneWaits() {
			before := l.finished.Load()
			t.Reset(waitTooLong)
			select {
			case <-t.C:
			case <-l.stop:
				return
			}
			now, nowCPU := time.Now(), processCPU()
			took := now.Sub(at)
			busy := 2*(nowCPU-cpu) >= took
			at, cpu = now, nowCPU
			if l.finished.Load() != before {
				stalled = 0
				continue
			}
			if stalled += took; !busy || stalled >= l.patience() {
				l.widen()
				stalled = 0
			}
		}
	}
}

// patience is how long the monitor lets a stall last, while the process
// keeps a CPU busy, before it widens: stallPatience times waitTooLong, or
// twice as long as the last handler timed that held the GIL ran.
func (l *lane) patience() time.Duration {
	return max(stallPatience*waitTooLong, 2*time.Duration(l.heldRan.Load()))
}

// processCPU is the CPU time the process has used, or 0 when the system
// does not say: then every stall looks like a handler that blocks.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
