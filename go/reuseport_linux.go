//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package main

// soReusePort is SO_REUSEPORT, which Go's syscall package lacks on Linux
// (asm-generic/socket.h; MIPS has its own value).
const soReusePort = 0xf
