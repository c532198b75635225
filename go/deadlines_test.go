package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// sweptPair returns the server side of a TCP connection, accepted through
// a sweeper for read timeouts of shortest, and its client side.
func sweptPair(t *testing.T, shortest time.Duration) (*sweeper, *sweptConn, net.Conn) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	sw := newSweeper(shortest, done)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := sw.wrap(inner)
	t.Cleanup(func() { ln.Close() })
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	// Should a deadline never fire, the read it should end ends with EOF
	// here, and the test fails rather than hangs.
	hang := time.AfterFunc(5*time.Second, func() { client.Close() })
	t.Cleanup(func() { hang.Stop() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return sw, c.(*sweptConn), client
}

// state returns what c keeps: its deadline, and whether one is set on
// the connection itself.
func state(c *sweptConn) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.due, c.set
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

func TestSweeperTick(t *testing.T) {
	for _, tc := range []struct{ shortest, tick time.Duration }{
		{10 * time.Second, maxTick},
		{time.Second, 50 * time.Millisecond},
		{10 * time.Millisecond, minTick},
	} {
		done := make(chan struct{})
		sw := newSweeper(tc.shortest, done)
		close(done)
		if sw.tick != tc.tick {
			t.Errorf("shortest %v: tick %v, want %v", tc.shortest, sw.tick, tc.tick)
		}
	}
	if newSweeper(0, nil) != nil {
		t.Error("a sweeper with no timeout to sweep")
	}
}

func TestShortestReadTimeout(t *testing.T) {
	for _, tc := range []struct {
		cfg  config
		tls  bool
		want time.Duration
	}{
		{config{}, false, 0},
		{config{writeTimeout: time.Second}, false, 0}, // write deadlines pass through
		{config{writeTimeout: time.Second}, true, time.Second},
		{config{readHeaderTimeout: 10 * time.Second, writeTimeout: time.Second}, true, time.Second},
		{config{readHeaderTimeout: 10 * time.Second, writeTimeout: time.Second}, false, 10 * time.Second},
		{config{readHeaderTimeout: 10 * time.Second, idleTimeout: 120 * time.Second}, false, 10 * time.Second},
		{config{readHeaderTimeout: 10 * time.Second, readTimeout: 3 * time.Second}, false, 3 * time.Second},
		{config{idleTimeout: 2 * time.Second}, false, 2 * time.Second},
	} {
		if got := shortestReadTimeout(&tc.cfg, tc.tls); got != tc.want {
			t.Errorf("%+v, TLS %v: %v, want %v", tc.cfg, tc.tls, got, tc.want)
		}
	}
}

func TestASweptDeadlineEndsABlockedRead(t *testing.T) {
	_, c, _ := sweptPair(t, 200*time.Millisecond) // a 10 ms tick
	start := time.Now()
	c.SetReadDeadline(start.Add(100 * time.Millisecond))
	if due, set := state(c); due == 0 || set {
		t.Fatalf("a far deadline: kept %v, set %v; want it kept only", due, set)
	}
	_, err := c.Read(make([]byte, 1))
	took := time.Since(start)
	if !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if took < 100*time.Millisecond || took > time.Second {
		t.Errorf("the deadline fired after %v, want 100 ms and a tick or so", took)
	}
	// As with Go's own deadlines, a new one lets reads go on.
	c.SetReadDeadline(time.Time{})
	if _, set := state(c); set {
		t.Error("the expired deadline stayed set")
	}
}

func TestAReadAfterAnExpiredDeadlineCanGoOnOnceItIsLifted(t *testing.T) {
	_, c, client := sweptPair(t, 200*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	client.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read after the deadline was lifted: %d, %v", n, err)
	}
}

func TestAClearedDeadlineNeverFires(t *testing.T) {
	_, c, client := sweptPair(t, 200*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	c.SetReadDeadline(time.Time{})
	time.Sleep(100 * time.Millisecond) // several sweeps
	client.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read: %d, %v", n, err)
	}
}

func TestPastAndNearDeadlinesPassThrough(t *testing.T) {
	_, c, _ := sweptPair(t, 200*time.Millisecond)
	// net/http's abortPendingRead: a read in progress must end now.
	c.SetReadDeadline(time.Unix(1, 0))
	if due, set := state(c); due != 0 || !set {
		t.Fatalf("a past deadline: kept %v, set %v; want it set", due, set)
	}
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	// (Near: now.  A tick off would be near too, unless the sweeper's
	// clock had fallen behind.)
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	if due, set := state(c); due != 0 || !set {
		t.Fatalf("a deadline a millisecond off: kept %v, set %v; want it set", due, set)
	}
	c.SetReadDeadline(time.Time{})
	if due, set := state(c); due != 0 || set {
		t.Fatalf("no deadline: kept %v, set %v", due, set)
	}
}

func TestAFarDeadlineReplacesOneSetOnTheConnection(t *testing.T) {
	_, c, _ := sweptPair(t, 200*time.Millisecond)
	c.SetReadDeadline(time.Unix(1, 0))
	start := time.Now()
	c.SetReadDeadline(start.Add(100 * time.Millisecond))
	if due, set := state(c); due == 0 || set {
		t.Fatalf("kept %v, set %v; want the far deadline kept and the past one cleared", due, set)
	}
	_, err := c.Read(make([]byte, 1))
	if took := time.Since(start); !isTimeout(err) || took < 100*time.Millisecond {
		t.Fatalf("read: %v after %v, want a timeout after 100 ms", err, took)
	}
}

func TestSetDeadlineSetsBoth(t *testing.T) {
	_, c, _ := sweptPair(t, 200*time.Millisecond)
	c.SetDeadline(time.Unix(1, 0))
	if _, err := c.Write([]byte("x")); !isTimeout(err) {
		t.Errorf("write: %v, want a timeout", err)
	}
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("read: %v, want a timeout", err)
	}
}

func TestASweptConnIsForgottenWhenClosed(t *testing.T) {
	sw, c, _ := sweptPair(t, time.Second)
	if n := sw.swept(); n != 1 {
		t.Fatalf("swept %d connections, want 1", n)
	}
	c.Close()
	c.Close()
	if n := sw.swept(); n != 0 {
		t.Fatalf("swept %d connections after close, want 0", n)
	}
}

func TestClosingConnsInAnyOrderLeavesTheRestSwept(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	sw := newSweeper(time.Hour, done) // ticks too rarely to interfere
	var conns []*sweptConn
	for range 20 {
		inner, peer := net.Pipe()
		defer peer.Close()
		conns = append(conns, sw.add(inner))
	}
	open := map[*sweptConn]bool{}
	for i, c := range conns {
		if i%3 == 0 || i == len(conns)-1 || i == 1 {
			c.Close() // the first, the last, and some between
		} else {
			open[c] = true
		}
	}
	if n := sw.swept(); n != len(open) {
		t.Fatalf("swept %d connections, want %d", n, len(open))
	}
	// Each open connection, and no other, gets its passed deadline set.
	now := 10 * time.Minute
	for _, c := range conns {
		c.mu.Lock()
		c.due = now - time.Second
		c.mu.Unlock()
	}
	sw.sweep(now)
	for i, c := range conns {
		due, set := state(c)
		if open[c] && (due != 0 || !set) {
			t.Errorf("open connection %d: kept %v, set %v; want it expired", i, due, set)
		}
		if !open[c] && (due == 0 || set) {
			t.Errorf("closed connection %d was swept", i)
		}
	}
}

func TestASweptConnKeepsWhatNetHTTPLooksFor(t *testing.T) {
	_, c, _ := sweptPair(t, time.Second)
	var conn net.Conn = c
	if _, ok := conn.(io.ReaderFrom); !ok {
		t.Error("no ReadFrom: static files would lose sendfile")
	}
	if _, ok := conn.(interface{ CloseWrite() error }); !ok {
		t.Error("no CloseWrite")
	}
}

// waitSwept waits up to a second for sw to sweep n connections.
func waitSwept(t *testing.T, sw *sweeper, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); sw.swept() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("sweeping %d connections, want %d", sw.swept(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// net/http's own timeouts, through a sweeper: keep-alive requests go on,
// an idle connection and a client slow to send its headers are cut off,
// neither early.
func TestNetHTTPTimeoutsThroughASweeper(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	sw := newSweeper(200*time.Millisecond, done)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		ReadHeaderTimeout: 200 * time.Millisecond,
		IdleTimeout:       300 * time.Millisecond,
	}
	var accepted atomic.Int32
	hs.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			accepted.Add(1)
		}
	}
	go hs.Serve(sw.wrap(inner))
	defer hs.Close()
	url := "http://" + inner.Addr().String() + "/"

	client := &http.Client{Transport: &http.Transport{}}
	for i := 0; i < 100; i++ {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "ok" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	idle := time.Now()
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections for 100 keep-alive requests, want 1", n)
	}
	waitSwept(t, sw, 0)
	// The server's idle wait began before the client read its response:
	// a slow client may see less than 300 ms, but far more than none.
	if took := time.Since(idle); took < 200*time.Millisecond {
		t.Errorf("the idle connection was closed after %v, before idle_timeout", took)
	}

	slow, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	slow.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	slow.SetReadDeadline(start.Add(2 * time.Second))
	_, err = slow.Read(make([]byte, 1024))
	took := time.Since(start)
	if err == nil || isTimeout(err) {
		t.Fatalf("read: %v, want the server to close the connection", err)
	}
	if took < 190*time.Millisecond { // the server accepted before start
		t.Errorf("the slow client was cut off after %v, before read_header_timeout", took)
	}
}
