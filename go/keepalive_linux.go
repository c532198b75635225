//go:build linux

package main

import "syscall"

// On Linux a connection accept returns starts with its listener's socket
// options, keep-alive among them (tcp_create_openreq_child starts its
// keep-alive timer when the listener has SO_KEEPALIVE): set once on the
// listener, they cost no system call per connection.
const acceptInheritsKeepAlive = true

// setListenerKeepAlive sets TCP keep-alive on the socket fd: probes after
// idle seconds without traffic, every interval seconds, count of them.
func setListenerKeepAlive(fd, idle, interval, count int) error {
	for _, o := range [...]struct{ level, name, value int }{
		{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, idle},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, interval},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, count},
	} {
		if err := syscall.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return err
		}
	}
	return nil
}
