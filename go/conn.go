package main

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
)

// A wrappedConn is the base of a net.Conn wrapper that a listener hands
// to net/http (limits.go, deadlines.go).  net/http looks at the
// connection for two methods beyond net.Conn's, which a plain embedded
// net.Conn would hide: ReadFrom and CloseWrite.
type wrappedConn struct {
	net.Conn
}

// ReadFrom keeps sendfile for static files: net/http uses it when the
// connection has it.
func (c wrappedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite lets net/http half-close the connection before it closes it,
// so that a client still sending gets the response rather than a reset.
func (c wrappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// freshMarkOf returns the mark that says whether c (or the connection a
// TLS c wraps) has yet sent a request (server.trackFresh), if c is one of
// the wrappers our listeners make, or nil.  A type switch on the concrete
// types costs a few compares where an interface assertion looks up an itab.
func freshMarkOf(c net.Conn) *atomic.Bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	switch c := c.(type) {
	case *countedConn:
		return &c.fresh
	case *limitedConn:
		return &c.fresh
	case *sweptConn:
		return &c.fresh
	}
	return nil
}
