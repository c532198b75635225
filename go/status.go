package main

/*
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// statusError is an error that knows which bridge.h status it maps to.
type statusError struct {
	status C.gohttp_status
	errno  syscall.Errno // 0, or the errno Python should see
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errState(format string, args ...any) error {
	return &statusError{status: C.GOHTTP_ESTATE, msg: fmt.Sprintf(format, args...)}
}

// errFinished: the call's request has finished (RequestFinishedError).
func errFinished(format string, args ...any) error {
	return &statusError{status: C.GOHTTP_EFINISHED, msg: fmt.Sprintf(format, args...)}
}

// errServerState: the server cannot do that in its state (ServerStateError).
func errServerState(format string, args ...any) error {
	return &statusError{status: C.GOHTTP_ECLOSED, msg: fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) error {
	return &statusError{status: C.GOHTTP_EINVAL, msg: fmt.Sprintf(format, args...)}
}

// report fills out (which may be nil) with err and returns err's status.
// Errors that are not statusErrors are I/O errors; their errno, if any,
// goes with them so that Python raises the right OSError subclass.
func report(out *C.gohttp_error, err error) C.gohttp_status {
	if err == nil {
		return C.GOHTTP_OK
	}
	status := C.gohttp_status(C.GOHTTP_EIO)
	var se *statusError
	var errno syscall.Errno
	sysErrno := 0
	switch {
	case errors.As(err, &se):
		status, sysErrno = se.status, int(se.errno)
	case errors.As(err, &errno):
		sysErrno = int(errno)
	}
	if out != nil {
		out.sys_errno = C.int32_t(sysErrno)
		copyMessage(out, err.Error())
	}
	return status
}

// copyMessage copies msg into out.message, truncated and NUL-terminated.
func copyMessage(out *C.gohttp_error, msg string) {
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&out.message[0])), len(out.message))
	n := copy(buf[:len(buf)-1], msg)
	buf[n] = 0
}

// recoverTo turns a panic in an export into GOHTTP_EPANIC.  Use it as
// "defer recoverTo(out, &status)" in every export: no panic may unwind
// into C.
func recoverTo(out *C.gohttp_error, status *C.gohttp_status) {
	if p := recover(); p != nil {
		*status = C.GOHTTP_EPANIC
		if out != nil {
			out.sys_errno = 0
			copyMessage(out, fmt.Sprint(p))
		}
	}
}
