package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
)

// sendFile sends count bytes of the file open as fd, starting at offset,
// as part of the body (count -1: up to the end of the file), and returns
// how many it sent.
//
// fd stays the caller's: sendFile works on a duplicate, which it closes
// before it returns.  The duplicate shares fd's file offset, so the
// offset ends after the last byte sent.
//
// io.Copy hands the file to net/http's ReadFrom, which writes the first
// 512 bytes itself (for Content-Type sniffing) and then gives the file to
// sendfile(2) if the connection is HTTP/1.x over cleartext TCP and the
// body is not chunked: a Content-Length was declared.  Otherwise (TLS,
// HTTP/2, a chunked body) Go copies it in 32 KiB blocks.  Either way no
// byte of it passes through C.
func (c *call) sendFile(fd int, offset, count int64) (int64, error) {
	if offset < 0 || count < -1 {
		return 0, errInvalid("invalid file span: offset %d, count %d", offset, count)
	}
	f, err := dupFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return c.sendOpenFile(f, offset, count)
}

// sendOpenFile is sendFile of a file Go opened itself (f stays the
// caller's to close): an ASGI app's http.response.pathsend.
func (c *call) sendOpenFile(f *os.File, offset, count int64) (int64, error) {
	c.wroteHeader = true
	if !codeAllowsBody(c.status) {
		return 0, errInvalid("%v: the status code does not allow one", http.ErrBodyNotAllowed)
	}

	// How much will go out, if that is known (a regular file), and the
	// most that may: never past the declared Content-Length, which
	// net/http's sendfile path does not check.
	want, limit := count, count
	if want < 0 {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			want = max(st.Size()-offset, 0)
		}
	}
	if c.declared >= 0 {
		left := c.declared - c.written
		if want > left {
			return 0, errInvalid("%v: %d bytes of the file from offset %d, but the Content-Length header leaves room for %d more",
				http.ErrContentLength, want, offset, left)
		}
		if limit < 0 || limit > left {
			limit = left
		}
	}
	if c.r.Method == http.MethodHead {
		// net/http sends no body for HEAD: the file need not be read.
		n := max(want, 0)
		c.written += n
		return n, nil
	}

	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	var src io.Reader = f
	if limit >= 0 {
		src = &io.LimitedReader{R: f, N: limit}
	}
	n, err := io.Copy(c.w, src)
	c.written += n
	var pathErr *os.PathError
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, http.ErrBodyNotAllowed):
		return n, errInvalid("%v: the status code does not allow one", err)
	case errors.Is(err, http.ErrContentLength):
		return n, errInvalid("%v: the file is longer than the Content-Length header says", err)
	case errors.As(err, &pathErr):
		// Reading the file failed, not the client: the errno goes to
		// Python with it.
		return n, pathErr
	}
	return n, errClientGone
}

// dupFile returns an *os.File of its own for the file open as fd, close-
// on-exec, named "fd N" in errors.
func dupFile(fd int) (*os.File, error) {
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, &os.PathError{Op: "dup", Path: fmt.Sprintf("fd %d", fd), Err: errno}
	}
	return os.NewFile(dup, fmt.Sprintf("fd %d", fd)), nil
}

// openRegular opens path for reading, as an ASGI app's
// http.response.pathsend names it, and returns the file and its size.
// Only a regular file is sent: a directory is EISDIR (IsADirectoryError
// in Python), anything else (a FIFO, a device) EINVAL.  It opens without
// blocking, so that a FIFO cannot hang the caller (the event loop's
// thread) waiting for a writer.  A relative path is taken from the
// current directory, as the app's own open() would take it.
func openRegular(path string) (*os.File, int64, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err = syscall.Fstat(fd, &st); err == nil {
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			err = syscall.SetNonblock(fd, false)
		case syscall.S_IFDIR:
			err = syscall.EISDIR
		default:
			syscall.Close(fd)
			return nil, 0, errInvalid("%s is not a regular file: http.response.pathsend sends files only", path)
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}
