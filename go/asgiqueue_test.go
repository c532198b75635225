package main

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wakeCounter is a consumer's descriptor: wakes counts the writes,
// readable tells whether one is unread.
type wakeCounter struct {
	wakes    atomic.Int64
	readable atomic.Bool
}

func (w *wakeCounter) wake() { w.wakes.Add(1); w.readable.Store(true) }

// drain is what the event loop does when the descriptor is readable:
// read it, then take everything, calling take again while it says so.
func (w *wakeCounter) drain(q *eventQueue[int], room int) []int {
	w.readable.Store(false)
	var got []int
	for {
		n := 0
		more := q.take(func(e int) bool {
			if n == room {
				return false
			}
			n++
			got = append(got, e)
			return true
		})
		if !more {
			return got
		}
	}
}

func newCountedQueue() (*eventQueue[int], *wakeCounter) {
	w := &wakeCounter{}
	return &eventQueue[int]{wake: w.wake}, w
}

func TestEventQueueKeepsOrderAndWakesOncePerBatch(t *testing.T) {
	q, w := newCountedQueue()
	for i := 0; i < 100; i++ {
		q.post(i)
	}
	if n := w.wakes.Load(); n != 1 {
		t.Fatalf("100 posts made %d wakes, want 1", n)
	}
	got := w.drain(q, 1000)
	for i, e := range got {
		if e != i {
			t.Fatalf("event %d is %d: order lost", i, e)
		}
	}
	if len(got) != 100 {
		t.Fatalf("took %d events, want 100", len(got))
	}
	q.post(100)
	if n := w.wakes.Load(); n != 2 {
		t.Fatalf("a post after the queue was emptied made %d wakes in all, want 2", n)
	}
}

func TestEventQueueTakeLeavesWhatDoesNotFit(t *testing.T) {
	q, w := newCountedQueue()
	for i := 0; i < 10; i++ {
		q.post(i)
	}
	n := 0
	more := q.take(func(int) bool { n++; return n <= 3 })
	if !more {
		t.Fatal("take said nothing is left after taking 3 of 10")
	}
	q.post(10) // a wake is still pending: no new one
	if w.wakes.Load() != 1 {
		t.Fatalf("posting while events remain woke again")
	}
	got := w.drain(q, 2) // two at a time
	if len(got) != 8 || got[0] != 3 || got[7] != 10 {
		t.Fatalf("the rest came as %v, want 3..10", got)
	}
}

func TestEventQueueNoWakeLostWhilePostingDuringDrain(t *testing.T) {
	q, w := newCountedQueue()
	q.post(0)
	w.readable.Store(false) // the loop read the descriptor...
	q.post(1)               // ...an event comes before it takes the queue
	q.take(func(int) bool { return true })
	q.post(2) // after the take: must wake again
	if !w.readable.Load() {
		t.Fatal("an event posted after the queue was emptied gave no wake")
	}
}

func TestEventQueueCloseWakesAndRefuses(t *testing.T) {
	q, w := newCountedQueue()
	q.post(1)
	q.close()
	q.close()
	if w.wakes.Load() != 2 {
		t.Fatalf("close made %d wakes in all, want 2", w.wakes.Load())
	}
	if q.post(2) {
		t.Fatal("post after close was accepted")
	}
	if got := w.drain(q, 10); len(got) != 1 || got[0] != 1 {
		t.Fatalf("after close the loop took %v, want the event posted before", got)
	}
	if !q.isClosed() {
		t.Fatal("isClosed is false after close")
	}
}

// Thousands of posters and a consumer that drains whenever woken: every
// event arrives exactly once, each poster's in its order.
func TestEventQueueManyPosters(t *testing.T) {
	const posters, each = 2000, 20
	wakeCh := make(chan struct{}, 1)
	q := &eventQueue[int]{wake: func() {
		select {
		case wakeCh <- struct{}{}:
		default:
		}
	}}
	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				q.post(p*each + i)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); q.close() }()
	last := make([]int, posters)
	for i := range last {
		last[i] = -1
	}
	total := 0
	go func() {
		defer close(done)
		for range wakeCh {
			for q.take(func(e int) bool {
				p, i := e/each, e%each
				if i != last[p]+1 {
					t.Errorf("poster %d: event %d after %d", p, i, last[p])
				}
				last[p] = i
				total++
				return true
			}) {
			}
			if q.isClosed() && total == posters*each {
				return
			}
		}
	}()
	<-done
	if total != posters*each {
		t.Fatalf("took %d events, want %d", total, posters*each)
	}
}

func TestEventQueueDropRemovesWhatMatches(t *testing.T) {
	q, w := newCountedQueue()
	for i := 0; i < 10; i++ {
		q.post(i)
	}
	q.drop(func(e int) bool { return e%2 == 1 })
	got := w.drain(q, 100)
	if len(got) != 5 || got[0] != 0 || got[4] != 8 {
		t.Fatalf("after dropping the odd events the loop took %v", got)
	}
}

// postAlways queues even once the queue is closed (the bodies C lent must
// reach it whatever happens), in order, with one wake for the batch.
func TestEventQueuePostAlwaysAfterClose(t *testing.T) {
	q, w := newCountedQueue()
	q.close()
	w.drain(q, 10)
	before := w.wakes.Load()
	q.postAlways(1, 2, 3)
	if n := w.wakes.Load() - before; n != 1 {
		t.Fatalf("postAlways of 3 events made %d wakes, want 1", n)
	}
	if got := w.drain(q, 10); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("after close postAlways gave %v, want [1 2 3]", got)
	}
	if q.post(4) {
		t.Fatal("post after close was accepted")
	}
	q.stop()
	before = w.wakes.Load()
	if q.postAlways(5) || w.wakes.Load() != before {
		t.Fatal("postAlways after stop queued or woke")
	}
	if got := w.drain(q, 10); len(got) != 0 {
		t.Fatalf("after stop the loop took %v", got)
	}
}

// postLater wakes nobody at once: an event that wakes the consumer meanwhile
// takes it along, and without one the late wake comes by itself.
func TestEventQueuePostLaterRidesTheNextWake(t *testing.T) {
	q, w := newCountedQueue()
	q.postLater(1)
	q.post(2) // a wake that comes anyway
	if got := w.drain(q, 10); len(got) != 2 || got[0] != 1 {
		t.Fatalf("the wake took %v, want [1 2]", got)
	}
	time.Sleep(3 * laterWake)
	if n := w.wakes.Load(); n != 1 {
		t.Fatalf("%d wakes for events one wake took, want 1", n)
	}

	q.postLater(3) // nothing else comes: its own wake, late
	deadline := time.Now().Add(10 * time.Second)
	for !w.readable.Load() && time.Now().Before(deadline) {
		time.Sleep(laterWake)
	}
	if got := w.drain(q, 10); len(got) != 1 || got[0] != 3 {
		t.Fatalf("the late wake took %v, want [3]", got)
	}

	q.stop()
	if q.postLater(4) {
		t.Fatal("postLater after stop queued")
	}
}
