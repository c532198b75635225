//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An accepted connection has the keep-alive asked for, on a listener the
// server opens (where net's accept sets none: the listener's are
// inherited) and on an inherited one, and its keep-alive timer runs.
func TestAcceptedKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fd        bool
		keepAlive time.Duration
		want      [5]int // SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_NODELAY
		timer     int    // /proc/net/tcp's: 2 keep-alive, 0 none
	}{
		{"default", false, goKeepAlive, [5]int{1, 15, 15, 9, 1}, 2},
		{"7s", false, 7 * time.Second, [5]int{1, 7, 7, 9, 1}, 2},
		{"off", false, 0, [5]int{0, 0, 0, 0, 1}, 0},
		{"fd default", true, goKeepAlive, [5]int{1, 15, 15, 9, 1}, 2},
		{"fd 7s", true, 7 * time.Second, [5]int{1, 7, 7, 9, 1}, 2},
		{"fd off", true, 0, [5]int{0, 0, 0, 0, 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.fd {
				addr = "fd://" + strconv.Itoa(listeningFD(t))
			}
			ln, err := listenAddr(addr, listenOptions{keepAlive: tc.keepAlive})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := sockopts(t, c.(*net.TCPConn), [][2]int{
				{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
				{syscall.IPPROTO_TCP, syscall.TCP_NODELAY},
			})
			if tc.keepAlive == 0 { // the timings are then the system's, unused
				got[1], got[2], got[3] = tc.want[1], tc.want[2], tc.want[3]
			}
			if [5]int(got) != tc.want {
				t.Errorf("SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_NODELAY = %v, want %v", got, tc.want)
			}
			if timer := tcpTimer(t, c.LocalAddr(), c.RemoteAddr()); timer != tc.timer {
				t.Errorf("the accepted connection's timer in /proc/net/tcp is %d, want %d", timer, tc.timer)
			}
		})
	}
}

func sockopts(t *testing.T, c *net.TCPConn, opts [][2]int) []int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	var gerr error
	rc.Control(func(fd uintptr) {
		for _, o := range opts {
			v, err := syscall.GetsockoptInt(int(fd), o[0], o[1])
			if err != nil {
				gerr = err
			}
			got = append(got, v)
		}
	})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return got
}

// tcpTimer returns the timer a TCP socket runs, as /proc/net/tcp's "tr"
// column says (0 none, 1 retransmit, 2 keep-alive, ...).
func tcpTimer(t *testing.T, local, remote net.Addr) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip(err)
	}
	hex := func(a net.Addr) string { // as the kernel prints it: %08X of the address in memory, %04X
		ta := a.(*net.TCPAddr)
		return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ta.IP.To4()), ta.Port)
	}
	l, r := hex(local), hex(remote)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 5 && f[1] == l && f[2] == r {
			tr, err := strconv.Atoi(strings.SplitN(f[5], ":", 2)[0])
			if err != nil {
				t.Fatalf("/proc/net/tcp: %q", line)
			}
			return tr
		}
	}
	t.Fatalf("no line for %s -> %s in /proc/net/tcp", l, r)
	return 0
}
