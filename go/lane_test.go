package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// laneLoad runs n calls at once through a lane whose handler is work,
// and returns the most that were in the handler at the same time.
func laneLoad(t *testing.T, l *lane, n int, work func()) int32 {
	t.Helper()
	var in, peak atomic.Int32
	l.enter = func(c *call) {
		now := in.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		work()
		in.Add(-1)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(&call{done: make(chan bool, 1)})
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("calls did not finish: a place was lost")
	}
	return peak.Load()
}

func TestLaneRunsOneCallAtATimeWhenCallsAreQuick(t *testing.T) {
	l := newLane(1, 8)
	defer l.close()
	if peak := laneLoad(t, l, 200, func() {}); peak != 1 {
		t.Errorf("peak = %d calls in C at once, want 1", peak)
	}
}

func TestLaneWidensForBlockingCallsUpToMax(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	peak := laneLoad(t, l, 40, func() { time.Sleep(10 * time.Millisecond) })
	if peak < 2 || peak > 4 {
		t.Errorf("peak = %d calls in C at once, want 2 to 4", peak)
	}
	// Quick calls afterwards narrow it back.
	laneLoad(t, l, 50, func() {})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.width != 1 || l.inC != 0 {
		t.Errorf("after the load: width %d, %d in C; want 1 and 0", l.width, l.inC)
	}
}

func TestLaneWithMinRunsThatManyAtOnce(t *testing.T) {
	l := newLane(3, 3)
	defer l.close()
	peak := laneLoad(t, l, 30, func() { time.Sleep(5 * time.Millisecond) })
	if peak != 3 {
		t.Errorf("peak = %d calls in C at once, want 3", peak)
	}
}

// wantLane checks, after a leave, how many calls are in C, the width and,
// unless waiting is -1, how many calls wait.
func wantLane(t *testing.T, l *lane, inC, width int32, waiting int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inC != inC || l.width != width || (waiting >= 0 && len(l.waiting)-l.head != waiting) {
		t.Errorf("after leave: %d in C, width %d, %d waiting; want %d, %d, %d",
			l.inC, l.width, len(l.waiting)-l.head, inC, width, waiting)
	}
}

// waitingCall queues a call that has waited for d, as run would have.
func waitingCall(l *lane, d time.Duration) *call {
	c := &call{done: make(chan bool, 1), queued: time.Now().Add(-d)}
	l.waiting = append(l.waiting, c)
	return c
}

func TestLaneFreesThePlaceForAShortWaiter(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.inC = 1
	c := waitingCall(l, 0)
	l.leave(&call{})
	if handed := <-c.done; handed {
		t.Error("the place was handed over; want it freed, for whoever comes first")
	}
	wantLane(t, l, 0, 1, 0)
}

func TestLaneHandsThePlaceToAWaiterThatWaitedLong(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.inC = 1
	c := waitingCall(l, handOffAfter+time.Millisecond/2)
	l.leave(&call{})
	if handed := <-c.done; !handed {
		t.Error("the place was freed; want it handed to the waiter that waited longest")
	}
	wantLane(t, l, 1, 1, -1)
}

func TestLaneWidensForAWaiterThatWaitedTooLong(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.inC = 1
	first, second := waitingCall(l, 2*waitTooLong), waitingCall(l, waitTooLong)
	l.leave(&call{})
	if !<-first.done || !<-second.done {
		t.Error("want both waiters handed a place")
	}
	wantLane(t, l, 2, 2, -1)
}

func TestLanePutsAWaiterThatLostThePlaceBackFirst(t *testing.T) {
	l := newLane(1, 1)
	defer l.close()
	a, b, c, d := &call{}, &call{}, &call{}, &call{}
	l.waiting = []*call{a, b}
	l.pop()        // a, woken, leaves a free slot before b
	l.pushFront(c) // goes into that slot
	l.pushFront(d) // finds none: the others move up
	got, want := l.waiting[l.head:], []*call{d, c, b}
	if len(got) != len(want) {
		t.Fatalf("%d waiting, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("waiting[%d] is not the call expected", i)
		}
	}
}

func TestLaneWakesOneWaiterAtATime(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.width, l.inC = 2, 2
	first, second := waitingCall(l, 0), waitingCall(l, 0)
	l.leave(&call{})
	l.leave(&call{}) // first is on its way: second is not woken too
	if <-first.done {
		t.Error("the place was handed over; want it freed")
	}
	select {
	case <-second.done:
		t.Error("a second waiter was woken while the first was on its way")
	default:
	}
}

func TestLaneWokenCallPassesOnAPlaceStillFree(t *testing.T) {
	l := newLane(1, 2) // at its widest: the monitor cannot let the second in
	defer l.close()
	// Each call stays in C until both are in: two places, both used.
	var in, entered atomic.Int32
	var both atomic.Bool
	l.enter = func(*call) {
		if in.Add(1) == 2 {
			both.Store(true)
		}
		entered.Add(1)
		for deadline := time.Now().Add(2 * time.Second); entered.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		in.Add(-1)
	}
	l.width, l.inC = 2, 2 // two calls in C, which leave below
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(&call{done: make(chan bool, 1)})
		}()
	}
	for queued := 0; queued < 2; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		queued = len(l.waiting) - l.head
		l.mu.Unlock()
	}
	// With one P, both leave before the woken call runs: it finds the
	// second place free when it takes the first.
	// The places are freed, not handed over: the waiters are made fresh.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	l.mu.Lock()
	for _, c := range l.waiting[l.head:] {
		c.queued = time.Now()
	}
	l.mu.Unlock()
	l.leave(&call{})
	l.leave(&call{})
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the calls did not finish")
	}
	if !both.Load() {
		t.Error("the second waiter was left waiting with a place free")
	}
}

// timedCall is a call whose handler C timed: it ran for ran, on a CPU
// for cpu of that.
func timedCall(ran, cpu time.Duration) *call {
	return &call{timed: true, ran: ran, onCPU: cpu}
}

func TestLaneDoesNotWidenBehindAHandlerThatHeldTheGIL(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.inC = 1
	next := waitingCall(l, 2*waitTooLong)
	waitingCall(l, 2*waitTooLong)
	l.leave(timedCall(time.Millisecond, 990*time.Microsecond))
	if !<-next.done {
		t.Error("want the place handed to the waiter that waited longest")
	}
	wantLane(t, l, 1, 1, -1)
}

func TestLaneWidensBehindAHandlerThatGaveUpTheGIL(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.inC = 1
	first, second := waitingCall(l, 2*waitTooLong), waitingCall(l, 2*waitTooLong)
	l.leave(timedCall(10*time.Millisecond, 100*time.Microsecond))
	if !<-first.done || !<-second.done {
		t.Error("want both waiters handed a place")
	}
	wantLane(t, l, 2, 2, -1)
}

func TestLaneNarrowsBehindAHandlerThatHeldTheGIL(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	l.width, l.inC = 3, 3
	c := waitingCall(l, 2*waitTooLong)
	l.leave(timedCall(time.Millisecond, time.Millisecond))
	select {
	case <-c.done:
		t.Error("the place was passed on; want it retired")
	default:
	}
	wantLane(t, l, 2, 2, 1)
}

func TestLanePatienceGrowsBehindLongHandlersThatHeldTheGIL(t *testing.T) {
	l := newLane(1, 4)
	defer l.close()
	if p := l.patience(); p != stallPatience*waitTooLong {
		t.Errorf("patience with nothing timed = %v, want %v", p, stallPatience*waitTooLong)
	}
	l.inC = 1
	l.leave(timedCall(80*time.Millisecond, 80*time.Millisecond))
	if p := l.patience(); p != 160*time.Millisecond {
		t.Errorf("patience behind an 80 ms handler = %v, want 160ms", p)
	}
	l.inC = 1
	l.leave(timedCall(90*time.Millisecond, time.Millisecond))
	if p := l.patience(); p != 160*time.Millisecond {
		t.Errorf("patience after a handler that blocked = %v, want 160ms still", p)
	}
	l.inC = 1
	l.leave(timedCall(time.Millisecond, time.Millisecond))
	if p := l.patience(); p != stallPatience*waitTooLong {
		t.Errorf("patience behind a short handler = %v, want %v", p, stallPatience*waitTooLong)
	}
}

func TestProcessCPUCountsWork(t *testing.T) {
	// Spin until getrusage sees 5 ms of CPU: on a loaded machine 20 ms
	// of wall time may give this thread far less than that, so only a
	// clock that never moves in 2 s fails.
	before := processCPU()
	start := time.Now()
	for processCPU()-before < 5*time.Millisecond {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("2 s of spinning used %v of CPU, by getrusage", processCPU()-before)
		}
	}
}
