package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// limitBody returns a handler that refuses request bodies longer than max
// bytes.  A request whose Content-Length says so gets 413 at once, before
// any route (and Python) sees it.  Any other body (chunked, or HTTP/2
// without a length) is cut off after max bytes: reading on fails, and
// if the handler then fails without starting a response, the client
// gets 413 (see bodyTooLarge).
func limitBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			if r.ProtoMajor == 1 { // HTTP/3 forbids the field; HTTP/2 drops it
				w.Header().Set("Connection", "close")
			}
			http.Error(w, "413 request entity too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			// MaxBytesReader tells the connection it hit the limit, so Go
			// closes it after the response instead of reading on: give it
			// the writer of net/http, not an access log's wrapper.
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(unwrapWriter(w), r.Body, max)}
		}
		next.ServeHTTP(w, r)
	})
}

// A limitedBody is a request body behind http.MaxBytesReader that
// remembers whether a read hit the limit.
type limitedBody struct {
	io.ReadCloser
	hit atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.hit.Store(true)
		}
	}
	return n, err
}

// bodyTooLarge reports whether reading r's body hit the max_body_bytes
// limit: a handler that then failed answers 413, not 500.
func bodyTooLarge(r *http.Request) bool {
	b, ok := r.Body.(*limitedBody)
	return ok && b.hit.Load()
}

// unwrapWriter returns the innermost ResponseWriter under w's wrappers
// (those with an Unwrap method, as http.ResponseController expects).
func unwrapWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// A connLimit bounds how many connections a server's listeners serve at
// once, all listeners together.  At the limit, a listener holds the
// connection it has accepted until another closes; clients beyond it wait
// in the kernel's listen backlog.
type connLimit struct {
	slots chan struct{}
}

func newConnLimit(max int) *connLimit {
	return &connLimit{slots: make(chan struct{}, max)}
}

// wrap returns ln with its connections counted against the limit.
func (l *connLimit) wrap(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, limit: l, closed: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	limit     *connLimit
	closeOnce sync.Once
	closed    chan struct{}
}

// Accept accepts a connection, then waits for a free slot.  (Taking the
// slot first would let an idle listener sit on it while clients wait at
// another.)
func (ln *limitListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case ln.limit.slots <- struct{}{}:
		return &limitedConn{wrappedConn: wrappedConn{c}, slots: ln.limit.slots}, nil
	case <-ln.closed:
		c.Close()
		return nil, net.ErrClosed
	}
}

func (ln *limitListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.closed) })
	return ln.Listener.Close()
}

// A limitedConn gives its slot back when it is first closed.
type limitedConn struct {
	wrappedConn
	slots   chan struct{}
	release sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release.Do(func() { <-c.slots })
	return err
}
