package main

import (
	"encoding/binary"
	"syscall"
)

// A wakeFD is what an event loop polls to learn that events are queued:
// an eventfd on Linux, one descriptor that is both ends.
type wakeFD struct{ r, w int }

func newWakeFD() (wakeFD, error) {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0,
		syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return wakeFD{-1, -1}, errno
	}
	return wakeFD{int(fd), int(fd)}, nil
}

// wake makes the descriptor readable.
func (f wakeFD) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	syscall.Write(f.w, one[:]) // EAGAIN: the counter is full, so readable
}

// clear makes it unreadable until the next wake.
func (f wakeFD) clear() {
	var buf [8]byte
	syscall.Read(f.r, buf[:]) // EAGAIN: nothing to clear
}

func (f wakeFD) close() { syscall.Close(f.r) }
