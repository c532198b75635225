package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The Date header of the responses C writes, made once a second.
//
// net/http formats a Date for every response that has none: a clock read
// and about 1,700 instructions of time formatting, a tenth of what Go
// spends on a hello world.  A response of a Python or C handler gets
// this one instead, as nginx does: a clock goroutine makes it when each
// second begins.  It may show the second before for the few milliseconds
// the goroutine takes to wake.  A Date the handler set is kept.

var (
	dateValue     atomic.Pointer[[]string] // shared: never written to
	dateClockOnce sync.Once
)

// currentDate returns the Date header value for a response sent now, as
// a slice that the header map may hold but no one may change.
func currentDate() []string {
	dateClockOnce.Do(startDateClock)
	return *dateValue.Load()
}

func startDateClock() {
	storeDate(time.Now())
	go func() {
		for {
			now := time.Now()
			time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
			storeDate(time.Now())
		}
	}()
}

func storeDate(t time.Time) {
	v := []string{t.UTC().Format(http.TimeFormat)}
	dateValue.Store(&v)
}
