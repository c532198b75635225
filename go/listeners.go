package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The addresses a server may listen on, as the Python side spells them
// (gunicorn's spelling):
//
//	127.0.0.1:8000, :8000, [::1]:8000   TCP
//	unix:/run/app.sock                  a Unix domain socket
//	fd://3                              a listening socket inherited from
//	                                    the parent (systemd socket activation)
//
// gohttp/_address.py parses and checks them, with the messages users
// see; listenAddr only dispatches on the form, and its errors guard
// against a caller that did not check.

// listenOptions are what a listener is opened with.
type listenOptions struct {
	// reusePort sets SO_REUSEPORT on a TCP listener before it binds, so
	// that other processes may listen on the same address too (each gets
	// its own accept queue).
	reusePort bool
	// keepAlive is the TCP keep-alive of accepted connections: probes
	// after keepAlive of silence, then every keepAlive, keepAliveProbes
	// of them; 0 for none.
	keepAlive time.Duration
}

// keepAliveProbes is how many keep-alive probes go unanswered before the
// kernel drops a connection: Go's default, as is the server's default
// keepAlive (15 s): net.ListenConfig's, which http.ListenAndServe uses.
// A client gone without a word (a host switched off, a NAT that forgot
// the connection) is then found in about 2.5 minutes of silence even
// while a handler holds its connection (a long poll, a stream, a
// WebSocket that is not pinged).
const keepAliveProbes = 9

// goKeepAlive is the keep-alive net's accept sets on each connection of
// a listener it did not open itself (net.FileListener: fd://N).
const goKeepAlive = 15 * time.Second

// listenAddr opens a listener on one address.
func listenAddr(addr string, o listenOptions) (net.Listener, error) {
	a, err := parseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	switch a.network {
	case "unix":
		return listenUnix(a.address)
	case "fd":
		ln, err := listenFD(a.fd)
		if tl, ok := ln.(*net.TCPListener); ok && o.keepAlive != goKeepAlive {
			return &keepAliveListener{TCPListener: tl, keepAlive: o.keepAlive}, nil
		}
		return ln, err
	}
	return listenTCP(a.address, o)
}

// listenTCP listens on a TCP address.  Where accepted connections
// inherit the listener's options (Linux), keep-alive is set once on the
// listener and net's accept sets none: four setsockopt calls fewer a
// connection (net still sets TCP_NODELAY on each, as it always does).
func listenTCP(address string, o listenOptions) (net.Listener, error) {
	var lc net.ListenConfig
	if !acceptInheritsKeepAlive {
		lc.KeepAlive = -1 // off
		if o.keepAlive > 0 {
			lc.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: o.keepAlive, Interval: o.keepAlive, Count: keepAliveProbes}
		}
		if o.reusePort {
			lc.Control = setReusePort
		}
		return lc.Listen(context.Background(), "tcp", address)
	}
	lc.KeepAlive = -1 // net sets none on accept: see setListenerKeepAlive
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if o.reusePort {
			if err := setReusePort(network, address, c); err != nil {
				return err
			}
		}
		if o.keepAlive <= 0 {
			return nil
		}
		var err error
		if e := c.Control(func(fd uintptr) {
			s := int((o.keepAlive + time.Second - 1) / time.Second)
			err = setListenerKeepAlive(int(fd), s, s, keepAliveProbes)
		}); e != nil {
			return e
		}
		if err != nil {
			return fmt.Errorf("TCP keep-alive on %s: %w", address, err)
		}
		return nil
	}
	return lc.Listen(context.Background(), "tcp", address)
}

// A keepAliveListener gives the connections of an inherited TCP listener
// the server's keep-alive where it is not the one net's accept sets
// (goKeepAlive): net.FileListener offers no way to choose it.
type keepAliveListener struct {
	*net.TCPListener
	keepAlive time.Duration
}

func (ln *keepAliveListener) Accept() (net.Conn, error) {
	c, err := ln.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if ln.keepAlive <= 0 {
		c.SetKeepAlive(false)
	} else {
		c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: ln.keepAlive, Interval: ln.keepAlive, Count: keepAliveProbes})
	}
	return c, nil
}

// A listenSpec is an address taken apart, before anything is opened.
type listenSpec struct {
	network string // "tcp", "unix" or "fd"
	address string // "tcp": host:port, as net.JoinHostPort writes it; "unix": the path
	fd      int    // "fd": the descriptor
}

// parseListenAddr takes addr apart; it opens nothing.
func parseListenAddr(addr string) (listenSpec, error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(addr, "unix:")
		if path == "" {
			return listenSpec{}, errInvalid("bad address \"unix:\": want unix:PATH")
		}
		return listenSpec{network: "unix", address: path}, nil
	case strings.HasPrefix(addr, "fd://"):
		s := strings.TrimPrefix(addr, "fd://")
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return listenSpec{}, errInvalid("bad address \"fd://%s\": want fd://N, N a file descriptor number", s)
		}
		return listenSpec{network: "fd", fd: n}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return listenSpec{}, errInvalid("bad address %q: want HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return listenSpec{}, errInvalid("bad address %q: the port must be a number from 0 to 65535", addr)
	}
	return listenSpec{network: "tcp", address: net.JoinHostPort(host, port)}, nil
}

// setReusePort is a net.ListenConfig.Control that sets SO_REUSEPORT on
// the socket before it binds.
func setReusePort(network, address string, c syscall.RawConn) error {
	var err error
	if e := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	}); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("SO_REUSEPORT on %s: %w", address, err)
	}
	return nil
}

// listenUnix listens on a Unix domain socket at path.  A socket file
// left there by a server that has gone (nothing accepts on it) is
// replaced; any other file is an error.  Closing the listener removes
// the socket file.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("cannot listen on unix:%s: a file that is not a socket is there: %w", path, syscall.EEXIST)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("cannot listen on unix:%s: another server accepts on it: %w", path, syscall.EADDRINUSE)
		}
		os.Remove(path) // stale: its server has gone
	}
	return net.Listen("unix", path)
}

// listenFD makes a listener of an inherited file descriptor, which the
// server then owns: closing the listener closes it.
func listenFD(fd int) (net.Listener, error) {
	accepting, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	switch {
	case errors.Is(err, syscall.EBADF):
		return nil, errInvalid("fd %d is not an open file descriptor", fd)
	case errors.Is(err, syscall.ENOTSOCK):
		return nil, errInvalid("fd %d is not a socket", fd)
	case err != nil:
		return nil, fmt.Errorf("fd %d: %w", fd, err)
	case accepting == 0:
		return nil, errInvalid("fd %d is a socket but not a listening one: call listen() on it first", fd)
	}
	f := os.NewFile(uintptr(fd), "fd://"+strconv.Itoa(fd))
	ln, err := net.FileListener(f) // a dup of fd
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("fd %d: %w", fd, err)
	}
	return ln, nil
}

// addrString is how a bound listener's address is reported to Python:
// "127.0.0.1:8000", "[::1]:8000", "unix:/run/app.sock".
func addrString(a net.Addr) string {
	if a.Network() == "unix" {
		return "unix:" + a.String()
	}
	return a.String()
}
