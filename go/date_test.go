package main

import (
	"net/http"
	"testing"
	"time"
)

func TestCurrentDateIsNowAndKeepsUp(t *testing.T) {
	for i := 0; i < 2; i++ {
		before := time.Now().Truncate(time.Second)
		got := currentDate()
		if len(got) != 1 {
			t.Fatalf("Date %q: want one value", got)
		}
		sent, err := http.ParseTime(got[0])
		if err != nil {
			t.Fatalf("Date %q: %v", got[0], err)
		}
		// The clock goroutine may wake a little after the second began.
		if sent.Before(before.Add(-time.Second)) || sent.After(time.Now()) {
			t.Errorf("Date %q, want about %v", got[0], before)
		}
		time.Sleep(1100 * time.Millisecond) // the next second's
	}
}
