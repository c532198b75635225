package main

import (
	"sync"
	"time"
)

// laterWake is how long an event posted with postLater may wait for a
// wake that comes anyway, before it brings its own.
const laterWake = time.Millisecond

// An eventQueue carries events from many goroutines to one consumer, an
// event loop that sleeps in poll(2) on a file descriptor.  Posting
// appends the event and wakes the consumer only if no wake is pending
// already: a burst of events costs one wake (one write(2) on the wake
// descriptor), not one per event.  The consumer clears the descriptor,
// then takes what is queued; a wake is pending again only once it has
// taken everything.
//
// No wake is lost: an event posted after the consumer read its
// descriptor but before it took the queue is taken with the others; one
// posted after it took the whole queue finds no wake pending and writes
// one.  This type knows nothing of cgo or of the descriptor (wake does
// the writing), so that lane_test's way of testing applies: see
// asgiqueue_test.go.
type eventQueue[E any] struct {
	wake func() // makes the consumer's descriptor readable

	mu      sync.Mutex
	events  []E
	pending bool // a wake was given and the queue not yet emptied
	closed  bool
	stopped bool // the consumer is gone for good: see stop
	armed   bool // late is set to wake the consumer: see postLater
	late    *time.Timer
}

// post queues e and wakes the consumer if needed.  It reports false,
// queueing nothing, once the queue is closed.
func (q *eventQueue[E]) post(e E) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.events = append(q.events, e)
	if !q.pending {
		q.pending = true
		q.wake() // under q.mu, as postAlways: no wake follows stop
	}
	return true
}

// postAlways queues es, in order and under one lock, even once the
// queue is closed, and wakes the consumer if needed: for what the
// consumer must see whatever else happens (bodies C lent, for it to
// release: asgicall.go).  After close, the consumer takes them as long
// as it takes at all; after stop they are dropped, and it reports
// false.  It wakes with q.mu held, so that no wake follows stop.
func (q *eventQueue[E]) postAlways(es ...E) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return false
	}
	q.events = append(q.events, es...)
	if !q.pending {
		q.pending = true
		q.wake()
	}
	return true
}

// postLater is postAlways for events that can wait for the next batch:
// it wakes the consumer only if no wake came within laterWake.  Under
// load one always does, and the events ride in it: the bodies C lent,
// given back once written, need no wake of their own.
func (q *eventQueue[E]) postLater(es ...E) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return false
	}
	q.events = append(q.events, es...)
	if !q.pending && !q.armed {
		q.armed = true
		if q.late == nil {
			q.late = time.AfterFunc(laterWake, q.wakeLate)
		} else {
			q.late.Reset(laterWake)
		}
	}
	return true
}

// wakeLate wakes the consumer for what postLater queued, unless a wake
// is pending or the consumer took it all already.
func (q *eventQueue[E]) wakeLate() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.armed = false
	if !q.stopped && !q.pending && len(q.events) > 0 {
		q.pending = true
		q.wake()
	}
}

// stop says the consumer is gone for good (its descriptor is about to
// close): postAlways queues and wakes nothing from now on.  It closes
// the queue too.
func (q *eventQueue[E]) stop() {
	q.mu.Lock()
	q.closed, q.stopped = true, true
	q.events = nil
	if q.late != nil {
		q.late.Stop()
	}
	q.mu.Unlock()
}

// take hands the queued events to fn, oldest first, while fn accepts
// them (returns true).  Those fn refused stay queued, first in line.  It
// reports whether events remain, in which case the consumer must call
// take again without waiting for a wake: none will come for them.
func (q *eventQueue[E]) take(fn func(E) bool) (more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.events) && fn(q.events[n]) {
		n++
	}
	rest := copy(q.events, q.events[n:])
	clear(q.events[rest:]) // drop what the taken events point to
	q.events = q.events[:rest]
	if rest == 0 {
		q.pending = false
		if cap(q.events) > 4096 {
			q.events = nil // a burst is over: give its memory back
		}
	}
	return rest > 0
}

// drop removes the queued events match accepts: those of a request that
// has ended, whose memory its goroutine wants back.  Once it returns, the
// consumer takes none of them.
func (q *eventQueue[E]) drop(match func(E) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.events[:0]
	for _, e := range q.events {
		if !match(e) {
			kept = append(kept, e)
		}
	}
	clear(q.events[len(kept):])
	q.events = kept
}

// close refuses events from now on and wakes the consumer, which still
// takes what was queued before.  Closing twice is harmless.
func (q *eventQueue[E]) close() {
	q.mu.Lock()
	was := q.closed
	q.closed = true
	q.mu.Unlock()
	if !was {
		q.wake()
	}
}

// isClosed reports whether close was called.
func (q *eventQueue[E]) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
