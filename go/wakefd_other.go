//go:build !linux

package main

import "syscall"

// A wakeFD is what an event loop polls to learn that events are queued:
// a pipe where there is no eventfd.
type wakeFD struct{ r, w int }

func newWakeFD() (wakeFD, error) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return wakeFD{-1, -1}, err
	}
	for _, fd := range p {
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(p[0])
			syscall.Close(p[1])
			return wakeFD{-1, -1}, err
		}
	}
	return wakeFD{p[0], p[1]}, nil
}

// wake makes the descriptor readable.
func (f wakeFD) wake() {
	syscall.Write(f.w, []byte{1}) // EAGAIN: the pipe is full, so readable
}

// clear makes it unreadable until the next wake.
func (f wakeFD) clear() {
	var buf [64]byte
	for {
		if n, err := syscall.Read(f.r, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (f wakeFD) close() {
	syscall.Close(f.r)
	syscall.Close(f.w)
}
