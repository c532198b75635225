//go:build linux && (mips || mipsle || mips64 || mips64le)

package main

// soReusePort is SO_REUSEPORT on Linux for MIPS (arch/mips socket.h).
const soReusePort = 0x200
