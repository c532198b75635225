package main

/*
#include "bridge.h"
*/
import "C"

import (
	"runtime"
	"sync/atomic"
	"time"
)

// A lane runs a server's handler calls in C.  Python runs one handler at
// a time under the GIL, so the fastest lane is one goroutine entering C
// for call after call: a single thread takes the GIL with no one to hand
// it to, and the goroutines of the connections wait in Go, costing no
// thread.  Handlers that block (I/O, sleep) release the GIL, though, and
// then one runner would leave the interpreter idle while calls wait; so
// the lane adds a runner when calls wait too long, up to max, and a
// runner leaves when the queue is empty and others remain.
//
// The number of runners bounds how many goroutines are in C at once,
// each holding an OS thread, so 5,000 slow requests queue here rather
// than spawn 5,000 threads.
//
// A free-threaded Python with the GIL off runs handlers in parallel: there
// a lane starts with one runner per CPU (up to max) and keeps them, so
// CPU-bound handlers use every core from the first request.
type lane struct {
	jobs     chan *call
	max      int32
	min      int32        // runners started at once and kept: 1, or one per CPU
	active   atomic.Int32 // runners running
	pending  atomic.Int64 // calls sent and not yet finished
	finished atomic.Uint64
	wake     chan struct{} // the monitor's alarm: pending left zero
	stop     chan struct{} // closed by close
}

// waitTooLong is how long a call may wait in the queue, or the lane go
// without finishing a call, before the lane adds a runner.
const waitTooLong = 2 * time.Millisecond

// parallelHandlers is set when Python runs handlers in parallel (see
// gohttp_set_parallel); it is read when a lane is made.
var parallelHandlers atomic.Bool

func newLane(max int) *lane {
	l := &lane{
		jobs: make(chan *call, 4096),
		max:  int32(max),
		min:  1,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	if parallelHandlers.Load() {
		l.min = int32(min(max, runtime.GOMAXPROCS(0)))
	}
	for range l.min {
		l.spawn()
	}
	go l.monitor()
	return l
}

// run runs c's handler in C and returns when it has finished.
func (l *lane) run(c *call) C.gohttp_outcome {
	if l.pending.Add(1) == 1 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	c.queued = time.Now()
	l.jobs <- c
	<-c.done
	l.pending.Add(-1)
	return c.outcome
}

// spawn adds a runner unless the lane has max.
func (l *lane) spawn() {
	for {
		n := l.active.Load()
		if n >= l.max {
			return
		}
		if l.active.CompareAndSwap(n, n+1) {
			go l.runner()
			return
		}
	}
}

// leave reports whether a runner may leave: only while more than min
// remain.
func (l *lane) leave() bool {
	n := l.active.Load()
	return n > l.min && l.active.CompareAndSwap(n, n-1)
}

func (l *lane) runner() {
	for {
		var c *call
		select {
		case c = <-l.jobs:
		case <-l.stop:
			l.active.Add(-1)
			return
		}
		if time.Since(c.queued) > waitTooLong {
			l.spawn() // calls wait: maybe the GIL is idle meanwhile
		}
		c.outcome = invoke(c.handler, &c.req, &c.data[0])
		l.finished.Add(1)
		c.done <- struct{}{}
		if len(l.jobs) == 0 && l.leave() {
			return
		}
	}
}

// monitor adds a runner when calls wait and none has finished for
// waitTooLong: every runner is stuck in a handler that does not return.
// It sleeps while the lane is idle.
func (l *lane) monitor() {
	t := time.NewTimer(waitTooLong)
	t.Stop()
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			return
		}
		for l.pending.Load() > 0 {
			before := l.finished.Load()
			t.Reset(waitTooLong)
			select {
			case <-t.C:
			case <-l.stop:
				return
			}
			if l.finished.Load() == before && len(l.jobs) > 0 {
				l.spawn()
			}
		}
	}
}

// close stops the runners and the monitor.  Call it only once no more
// calls can come: after the server has stopped and drained.
func (l *lane) close() {
	close(l.stop)
}
