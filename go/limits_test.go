package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLimitBodyRefusesALongContentLength(t *testing.T) {
	called := false
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }), 10)
	r := httptest.NewRequest("POST", "/", strings.NewReader("01234567890"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || called {
		t.Fatalf("got %d, handler called: %v", w.Code, called)
	}
}

func TestLimitBodyCutsOffAnUnknownLength(t *testing.T) {
	for _, size := range []int{10, 11} {
		var got []byte
		var err error
		var hit bool
		h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, err = io.ReadAll(r.Body)
			hit = bodyTooLarge(r)
		}), 10)
		r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", size)))
		r.ContentLength = -1 // chunked
		h.ServeHTTP(httptest.NewRecorder(), r)
		var mbe *http.MaxBytesError
		switch {
		case size <= 10 && (err != nil || len(got) != size || hit):
			t.Errorf("%d bytes: got %d, %v, hit %v", size, len(got), err, hit)
		case size > 10 && (!errors.As(err, &mbe) || !hit):
			t.Errorf("%d bytes: got %v, hit %v; want a MaxBytesError", size, err, hit)
		}
	}
}

func TestConnLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnLimit(1).wrap(inner)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted past the limit of 1")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second close gives back nothing more
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the second connection was not accepted once the first closed")
	}
}

func TestConnLimitCloseUnblocksAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limit := newConnLimit(1)
	limit.slots <- struct{}{} // full
	ln := limit.wrap(inner)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error)
	go func() { _, err := ln.Accept(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Accept past the limit returned: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// Two listeners share one slot: an idle listener must not keep it from
// the other's client.
func TestConnLimitAcrossListeners(t *testing.T) {
	limit := newConnLimit(1)
	var lns [2]net.Listener
	accepted := make(chan net.Conn, 2)
	for i := range lns {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = limit.wrap(inner)
		defer lns[i].Close()
		go func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}(lns[i])
	}
	for _, ln := range lns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case got := <-accepted:
			got.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("a client of %s was never accepted", ln.Addr())
		}
	}
}
