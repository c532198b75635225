//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package main

import "syscall"

// soReusePort is SO_REUSEPORT.
const soReusePort = syscall.SO_REUSEPORT
