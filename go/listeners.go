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

// listenAddr opens a listener on one address.  With reusePort, a TCP
// listener sets SO_REUSEPORT before it binds, so that other processes
// may listen on the same address too (each gets its own accept queue).
func listenAddr(addr string, reusePort bool) (net.Listener, error) {
	a, err := parseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	switch a.network {
	case "unix":
		return listenUnix(a.address)
	case "fd":
		return listenFD(a.fd)
	}
	return listenTCP(a.address, reusePort)
}

// tcpKeepAlive is the TCP keep-alive of accepted connections: Go's own
// default (net.ListenConfig's, which http.ListenAndServe uses), so that a
// client gone without a word (a host switched off, a NAT that forgot the
// connection) is found in about 2.5 minutes of silence even while a
// handler holds its connection (a long poll, a stream, a WebSocket).
var tcpKeepAlive = net.KeepAliveConfig{
	Enable:   true,
	Idle:     15 * time.Second,
	Interval: 15 * time.Second,
	Count:    9,
}

// listenTCP listens on a TCP address.  Where accepted connections
// inherit the listener's options (Linux), keep-alive is set once on the
// listener and net's accept sets none: four setsockopt calls fewer a
// connection (net still sets TCP_NODELAY on each, as it always does).
func listenTCP(address string, reusePort bool) (net.Listener, error) {
	var lc net.ListenConfig
	if !acceptInheritsKeepAlive {
		lc.KeepAliveConfig = tcpKeepAlive
		if reusePort {
			lc.Control = setReusePort
		}
		return lc.Listen(context.Background(), "tcp", address)
	}
	lc.KeepAlive = -1 // net sets none on accept: see setListenerKeepAlive
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if reusePort {
			if err := setReusePort(network, address, c); err != nil {
				return err
			}
		}
		var err error
		if e := c.Control(func(fd uintptr) {
			k := tcpKeepAlive
			err = setListenerKeepAlive(int(fd), int(k.Idle/time.Second), int(k.Interval/time.Second), k.Count)
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
