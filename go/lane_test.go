package main

import (
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
			l.run(&call{done: make(chan struct{}, 1)})
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
