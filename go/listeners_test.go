package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestListenAddrTCP(t *testing.T) {
	ln, err := listenAddr("127.0.0.1:0", listenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := addrString(ln.Addr()); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("addrString = %q", got)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "unix:", "fd://x", "fd://-1"} {
		var se *statusError
		if ln, err := listenAddr(bad, listenOptions{}); !errors.As(err, &se) {
			t.Errorf("listenAddr(%q): %v", bad, err)
			if ln != nil {
				ln.Close()
			}
		}
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	ln, err := listenAddr("unix:"+path, listenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := addrString(ln.Addr()); got != "unix:"+path {
		t.Errorf("addrString = %q", got)
	}
	// A live socket is not taken over.
	if _, err := listenAddr("unix:"+path, listenOptions{}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("a socket in use: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the socket file outlived its listener: %v", err)
	}

	// A stale socket (its server gone without removing it) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ln, err = listenAddr("unix:"+path, listenOptions{})
	if err != nil {
		t.Fatalf("a stale socket: %v", err)
	}
	ln.Close()

	// Any other file stays.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := listenAddr("unix:"+file, listenOptions{}); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("the regular file was changed")
	}
}

// listeningFD returns a listening TCP socket on 127.0.0.1, as a parent
// process hands one over (fd://N); the listener made of it owns it.
func listeningFD(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestListenFD(t *testing.T) {
	fd := listeningFD(t)
	got, err := listenAddr("fd://"+strconv.Itoa(fd), listenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Close()

	var se *statusError
	if _, err := listenAddr("fd://999999", listenOptions{}); !errors.As(err, &se) || !strings.Contains(err.Error(), "not an open file") {
		t.Errorf("a closed fd: %v", err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := listenAddr("fd://"+strconv.Itoa(int(r.Fd())), listenOptions{}); !errors.As(err, &se) || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a pipe: %v", err)
	}
	s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(s)
	if _, err := listenAddr("fd://"+strconv.Itoa(s), listenOptions{}); !errors.As(err, &se) || !strings.Contains(err.Error(), "not a listening one") {
		t.Errorf("a socket that does not listen: %v", err)
	}
}

func TestListenReusePort(t *testing.T) {
	first, err := listenAddr("127.0.0.1:0", listenOptions{reusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addr().String()
	// A second listener on the same address: only with SO_REUSEPORT.
	if ln, err := listenAddr(addr, listenOptions{}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("without reuse_port: %v", err)
		if ln != nil {
			ln.Close()
		}
	}
	second, err := listenAddr(addr, listenOptions{reusePort: true})
	if err != nil {
		t.Fatalf("with reuse_port: %v", err)
	}
	second.Close()
}
