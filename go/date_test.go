package main

import (
	"net/http"
	"testing"
	"time"
)

func TestCurrentDateIsNowAndKeepsUp(t *testing.T) {
	first := currentDate()
	sent, err := http.ParseTime(first[0])
	if len(first) != 1 || err != nil {
		t.Fatalf("Date %q: want one value in http.TimeFormat: %v", first, err)
	}
	// The clock goroutine may wake a little after the second began.
	if now := time.Now(); sent.Before(now.Add(-2*time.Second)) || sent.After(now) {
		t.Errorf("Date %q, want about %v", first[0], now)
	}
	// Over a second boundary (and the goroutine's wake-up) the value
	// must change: a clock that stopped would not.
	time.Sleep(1500 * time.Millisecond)
	if next := currentDate(); next[0] == first[0] {
		t.Errorf("Date still %q after 1.5 s", next[0])
	}
}
