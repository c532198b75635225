package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Read deadlines, swept rather than timed.
//
// net/http enforces ReadHeaderTimeout, ReadTimeout and IdleTimeout with
// read deadlines on the connection.  On a keep-alive connection it sets
// two per request, one for the idle wait and one for the headers, and
// clears each again.  A deadline set on a net.Conn starts a runtime
// timer and reads the clock twice more (a clock read costs about 50 ns on
// a virtual machine), and the scheduler checks the timer while the
// connection waits: about 300 ns a request, all for deadlines that
// almost never pass.
//
// A sweptConn keeps such a deadline to itself instead, when it is far
// off, and its server's sweeper looks at every connection once a tick.
// One whose deadline has passed gets it set for real, in the past, which
// ends its blocked read with the timeout error Go's own timer would have
// given.  So a swept deadline fires late by up to a tick, never early.
// The tick is a twentieth of the server's shortest read timeout, from
// minTick to maxTick.  A deadline in the past or less than two ticks off
// (net/http's abortPendingRead, a handler's short deadline) passes
// straight through, as do write deadlines.

const (
	minTick = 5 * time.Millisecond
	maxTick = 500 * time.Millisecond
)

// A sweeper enforces the read deadlines its connections keep.
type sweeper struct {
	tick  time.Duration
	epoch time.Time    // deadlines are kept as time since epoch
	now   atomic.Int64 // time since epoch at the last tick, in ns

	mu    sync.Mutex   // guards conns and each one's at
	conns []*sweptConn // in no order

	batch []*sweptConn // the conns one sweep looks at; the sweeper's own
}

// newSweeper returns a sweeper for read timeouts of at least shortest,
// which runs until done is closed; or nil if there is nothing to sweep
// (shortest <= 0).  Close done once the connections are closed: a
// deadline kept after that never passes.
func newSweeper(shortest time.Duration, done <-chan struct{}) *sweeper {
	if shortest <= 0 {
		return nil
	}
	s := &sweeper{
		tick:  min(max(shortest/20, minTick), maxTick),
		epoch: time.Now(),
	}
	go s.run(done)
	return s
}

// shortestReadTimeout returns the shortest timeout cfg sets that net/http
// enforces with a read deadline, or 0 if there is none: the read
// timeouts, and with TLS the write timeout too, since the deadline of
// the handshake is the shortest of the header, read and write timeouts.
func shortestReadTimeout(cfg *config, tls bool) time.Duration {
	timeouts := []time.Duration{cfg.readHeaderTimeout, cfg.readTimeout, cfg.idleTimeout}
	if tls {
		timeouts = append(timeouts, cfg.writeTimeout)
	}
	shortest := time.Duration(0)
	for _, d := range timeouts {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	return shortest
}

func (s *sweeper) run(done <-chan struct{}) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.sweep(now.Sub(s.epoch))
		}
	}
}

// sweep expires the deadlines that have passed by now (since epoch).  It
// holds s.mu only to copy the list of connections, so that accepting and
// closing them does not wait for the sweep: here, for 10,000 connections,
// 2.5 µs of a 70 µs sweep.  A connection closed meanwhile is harmless:
// its deadline can no longer be set.
func (s *sweeper) sweep(now time.Duration) {
	s.now.Store(int64(now))
	s.mu.Lock()
	s.batch = append(s.batch, s.conns...)
	s.mu.Unlock()
	for _, c := range s.batch {
		c.expire(now)
	}
	clear(s.batch) // let closed connections go
	s.batch = s.batch[:0]
}

// wrap returns ln with its connections' read deadlines swept by s.
func (s *sweeper) wrap(ln net.Listener) net.Listener {
	return &sweptListener{Listener: ln, s: s}
}

// swept reports how many connections s sweeps (for tests).
func (s *sweeper) swept() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

type sweptListener struct {
	net.Listener
	s *sweeper
}

func (ln *sweptListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return ln.s.add(c), nil
}

// add returns c with its read deadlines swept.
func (s *sweeper) add(c net.Conn) *sweptConn {
	sc := &sweptConn{wrappedConn: wrappedConn{c}, s: s}
	s.mu.Lock()
	sc.at = len(s.conns)
	s.conns = append(s.conns, sc)
	s.mu.Unlock()
	return sc
}

// remove forgets c, in the place of which the last connection moves;
// again, it does nothing.  (c.at < 0 says so under the lock remove takes
// anyway, where a sync.Once would cost a second atomic per connection.)
func (s *sweeper) remove(c *sweptConn) {
	s.mu.Lock()
	if c.at >= 0 {
		last := s.conns[len(s.conns)-1]
		s.conns[c.at], last.at = last, c.at
		s.conns[len(s.conns)-1] = nil
		s.conns = s.conns[:len(s.conns)-1]
		c.at = -1
	}
	s.mu.Unlock()
}

// A sweptConn is a connection whose far read deadlines its sweeper
// enforces (see above).
type sweptConn struct {
	wrappedConn
	s *sweeper

	mu  sync.Mutex    // guards due and set
	due time.Duration // the deadline kept, as time since s.epoch; 0: none
	set bool          // a read deadline is set on Conn itself

	at    int         // its index in s.conns, -1 once removed; guarded by s.mu
	fresh atomic.Bool // see server.trackFresh
}

// SetReadDeadline runs five times per keep-alive request: it has no defer.
func (c *sweptConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	err := c.setReadDeadline(t)
	c.mu.Unlock()
	return err
}

func (c *sweptConn) SetDeadline(t time.Time) error {
	err := c.SetReadDeadline(t)
	if werr := c.Conn.SetWriteDeadline(t); err == nil {
		err = werr
	}
	return err
}

// setReadDeadline keeps t if it is far off, else sets it on c.Conn.
// Call it with c.mu held.
func (c *sweptConn) setReadDeadline(t time.Time) error {
	c.due = 0
	if !t.IsZero() {
		if due := t.Sub(c.s.epoch); due > time.Duration(c.s.now.Load())+2*c.s.tick {
			c.due = due
			t = time.Time{} // and clear one set on c.Conn, if any
		}
	}
	if t.IsZero() && !c.set {
		return nil
	}
	c.set = !t.IsZero()
	return c.Conn.SetReadDeadline(t)
}

// expire sets the deadline c keeps on c.Conn once it has passed by now.
func (c *sweptConn) expire(now time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.due != 0 && c.due <= now {
		c.set = true
		c.Conn.SetReadDeadline(c.s.epoch.Add(c.due)) // in the past
		c.due = 0
	}
}

func (c *sweptConn) Close() error {
	c.s.remove(c)
	return c.Conn.Close()
}
