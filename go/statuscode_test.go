package main

import "testing"

// Go's twins of bridge.h's status code rules agree with C's on every
// status code a handler may send, and C's are the ones this file states.
func TestStatusCodeRulesAgreeWithC(t *testing.T) {
	for code := 100; code <= 999; code++ {
		if got, want := codeIsFinal(code), cCodeIsFinal(code); got != want {
			t.Errorf("codeIsFinal(%d) = %v, C says %v", code, got, want)
		}
		if got, want := codeAllowsBody(code), cCodeAllowsBody(code); got != want {
			t.Errorf("codeAllowsBody(%d) = %v, C says %v", code, got, want)
		}
	}
	for code, want := range map[int][2]bool{ // final, body
		100: {false, false}, 101: {true, false}, 103: {false, false},
		200: {true, true}, 204: {true, false}, 304: {true, false},
		404: {true, true}, 599: {true, true},
	} {
		if got := [2]bool{codeIsFinal(code), codeAllowsBody(code)}; got != want {
			t.Errorf("code %d: (final, body) = %v, want %v", code, got, want)
		}
	}
}
